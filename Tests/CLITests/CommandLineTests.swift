import Foundation
import Testing
import PortFwdSystem

/// The command-line grammar: usage errors are one line plus the usage and exit 64, and `--`
/// makes everything after it a positional argument (libvirt passes guest names through it).
@Suite struct CommandLineTests {
    let dir = TempDir()

    func run(_ arguments: String, input: String? = nil) -> Shell.Result {
        Shell.capture("\(Paths.binary) \(arguments)", input: input)
    }

    @Test func usageErrorsNameTheProblemAndExit64() {
        for (arguments, message) in [
            ("apply --bogus", "unknown option '--bogus'"),
            ("apply --backend nft", "'nft' is not a valid --backend: use auto, nftables, iptables"),
            ("export --config", "--config needs a value"),
            ("export --all=yes", "--all takes no value"),
            ("hook qemu guest prepare", "missing <sub-operation>"),
            ("flush extra", "unexpected argument 'extra'"),
            ("frobnicate", "unknown subcommand 'frobnicate'"),
        ] {
            let r = run(arguments)
            #expect(r.status == 64, "\(arguments)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.first.map(String.init) == "libvirt-portfwd: error: \(message)", "\(arguments)")
            #expect(lines.dropFirst().first?.hasPrefix("Usage: libvirt-portfwd") == true, "\(arguments)")
            #expect(r.stdout.isEmpty)
        }
    }

    @Test func optionsTakeBothSpellingsAndHelpAndVersionWorkEverywhere() {
        dir.write("c.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        let spaced = run("export --all --backend nftables --config \(dir.path)/c.toml --state-dir \(dir.path)/s")
        let joined = run("export --all --backend=nftables --config=\(dir.path)/c.toml --state-dir=\(dir.path)/s")
        #expect(spaced.status == 0 && spaced.stdout.contains("tcp . 8080 : 192.168.122.10 . 80,"))
        #expect(joined.stdout == spaced.stdout)
        let version = run("--version").stdout
        #expect(version.hasPrefix("libvirt-portfwd 0.3.0 (commit "))
        #expect(version.contains("\nbackends: nftables; iptables (iptables-nft, iptables-legacy)\n"))
        for spelling in ["-V", "apply --version", "status -V", "hook qemu --version"] { #expect(run(spelling).stdout == version, "\(spelling)") }
        for help in ["--help", "-h", "help", "hook --help", "hook", "help hook qemu", "hook qemu -h", "apply -h"] {
            let r = run(help)
            #expect(r.status == 0 && r.stdout.hasPrefix("OVERVIEW: ") && r.stdout.contains("\nOPTIONS:\n"), "\(help)")
        }
    }

    /// Global options before the subcommand, as people type them.
    @Test func globalOptionsGoBeforeOrAfterTheSubcommand() {
        dir.write("c.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        let after = run("export --all --config \(dir.path)/c.toml --state-dir \(dir.path)/s")
        let before = run("--config \(dir.path)/c.toml --state-dir=\(dir.path)/s export --all")
        #expect(after.status == 0 && before.status == 0 && before.stdout == after.stdout)
        #expect(run("--config \(dir.path)/c.toml check").status == 0)
    }

    @Test func typosGetTheNearestSuggestion() {
        for (arguments, message) in [
            ("stauts", "unknown subcommand 'stauts'; did you mean 'status'?"),
            ("hook qemo", "unknown subcommand 'qemo'; did you mean 'qemu'?"),
            ("apply --al", "unknown option '--al'; did you mean '--all'?"),
            ("export --confg x", "unknown option '--confg'; did you mean '--config'?"),
        ] {
            let r = run(arguments)
            #expect(r.status == 64, "\(arguments)")
            #expect(r.stderr.split(separator: "\n").first.map(String.init) == "libvirt-portfwd: error: \(message)", "\(arguments)")
        }
    }

    /// Commands that need no kernel work for anyone, without stray permission lines; the
    /// others say in one line that they need root.
    @Test func withoutRootOnlyTheCommandsThatNeedItRefuse() throws {
        dir.write("c.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        try Shell.run("cp \(Paths.binary) \(dir.path)/tool && chmod 755 \(dir.path) \(dir.path)/tool && chmod 644 \(dir.path)/c.toml")
        func asNobody(_ arguments: String) -> Shell.Result {
            Shell.capture("cd / && setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \(dir.path)/tool \(arguments) --config "
                + "\(dir.path)/c.toml --state-dir \(dir.path)/nobody")
        }
        for ok in ["check", "export --all", "export --all --backend iptables", "--help"] {
            let r = asNobody(ok)
            #expect(r.status == 0 && r.stderr.isEmpty, "\(ok): \(r.stderr)")
        }
        for (command, name) in [("apply", "apply"), ("flush", "flush"), ("status", "status"), ("check --kernel", "check --kernel"),
            ("install-hook", "install-hook")] {
            let r = asNobody(command)
            #expect(r.status == 77, "\(command)")
            #expect(r.stderr.hasPrefix("libvirt-portfwd: \(name) needs root") && r.stderr.split(separator: "\n").count == 1,
                "\(command): \(r.stderr)")
        }
    }

    @Test func afterTheSeparatorEverythingIsAGuestArgument() {
        // A guest named like an option is handled, not taken for --help.
        let xml = "<domain><name>--help</name><uuid>0a0b0c0d-0000-4000-8000-000000000099</uuid></domain>"
        dir.write("none.toml", "")
        let r = run("hook qemu --config \(dir.path)/none.toml --state-dir \(dir.path)/s -- --help prepare begin -", input: xml)
        #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty)
    }
}

/// Habits admins bring from Docker and from libvirt's own tools.
@Suite struct CommandHabitTests {
    let dir = TempDir()

    @Test func aHostAddressTheHostDoesNotHoldIsRefusedUnlessFloating() {
        dir.write("c.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"203.0.113.77:8443:443\"]\n")
        let r = Shell.capture("\(Paths.binary) check --config \(dir.path)/c.toml --state-dir \(dir.path)/s")
        #expect(r.status == 1)
        #expect(r.stderr == "libvirt-portfwd: guest web1: forward 203.0.113.77:8443:443/tcp is bound to 203.0.113.77, which this host does not hold; "
            + "add it to settings.floating-addresses if it arrives later (keepalived, say)\n")
        dir.write("f.toml", "[settings]\nfloating-addresses = [\"203.0.113.77\"]\n[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards "
            + "= [\"203.0.113.77:8443:443\"]\n")
        #expect(Shell.capture("\(Paths.binary) check --config \(dir.path)/f.toml --state-dir \(dir.path)/s").status == 0)
        // Docker's 0.0.0.0 means every address; loopback is refused with the reason.
        dir.write("d.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"0.0.0.0:8080:80\"]\n")
        #expect(Shell.capture("\(Paths.binary) check --config \(dir.path)/d.toml --state-dir \(dir.path)/s").status == 0)
        dir.write("l.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"127.0.0.1:8080:80\"]\n")
        let loopback = Shell.capture("\(Paths.binary) check --config \(dir.path)/l.toml --state-dir \(dir.path)/s")
        #expect(loopback.status == 1 && loopback.stderr.contains("forwarding from it needs route_localnet"))
    }

    /// `check --candidate FILE --as PATH`, a config manager's validate step (Ansible's
    /// `validate: libvirt-portfwd check --candidate %s --as DEST`): the config as it would be
    /// with FILE in place of PATH, read as the service reads PATH.
    @Test func aCandidateIsCheckedInPlaceOfTheFileItWouldReplace() {
        let check = "\(Paths.binary) check --config \(dir.path)/c.toml --state-dir \(dir.path)/s"
        let web1 = "\(dir.path)/portfwd.d/web1.toml"
        dir.write("c.toml", "[[guest]]\nname = \"db\"\naddress = \"192.168.122.20\"\nforwards = [\"5432\"]\n")
        dir.write("portfwd.d/web1.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        // web1 moves to another address: fine in place of its file; beside it, the two disagree.
        dir.write("moved.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.11\"\nforwards = [\"8080:80\", \"8443:443\"]\n")
        let replaced = Shell.capture("\(check) --candidate \(dir.path)/moved.toml --as \(web1)")
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(replaced.stdout == "success: \(dir.path)/c.toml with \(dir.path)/moved.toml as \(web1): 3 forwards of 2 configured guests\n")
        let beside = Shell.capture("\(check) --candidate \(dir.path)/moved.toml --as \(dir.path)/portfwd.d/web1-new.toml")
        #expect(beside.status == 1)
        #expect(beside.stderr.contains("guest web1: address is 192.168.122.11 in portfwd.d/web1-new.toml: guest[0] and 192.168.122.10 in "
            + "portfwd.d/web1.toml: guest[0]"),
                "\(beside.stderr)")
        // A bad spec: refused, named by where the file would go, and whose text it was.
        dir.write("bad.toml", "[[guest]]\nname = \"web1\"\nforwards = [\"8080:99999\"]\n")
        let bad = Shell.capture("\(check) --candidate \(dir.path)/bad.toml --as \(web1)")
        #expect(bad.status == 1)
        #expect(bad.stderr.hasPrefix("libvirt-portfwd: \(web1): "), "\(bad.stderr)")
        #expect(bad.stderr.hasSuffix("libvirt-portfwd: (checked with \(dir.path)/bad.toml in place of \(web1))\n"), "\(bad.stderr)")
        // A port another file holds.
        dir.write("taken.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"5432\"]\n")
        let taken = Shell.capture("\(check) --candidate \(dir.path)/taken.toml --as \(web1)")
        #expect(taken.status == 1 && taken.stderr.contains("conflict: tcp port 5432 on every address: guests db and web1 both claim it"),
            "\(taken.stderr)")
        // Settings: refused in a drop-in, taken in place of the main file, and read with the
        // drop-ins there (a drop-in's forward bound to a floating address passes only then).
        dir.write("portfwd.d/vip.toml", "[[guest]]\nname = \"vip\"\naddress = \"192.168.122.30\"\nforwards = [\"203.0.113.77:8443:443\"]\n")
        #expect(Shell.capture(check).status == 1)
        dir.write("settings.toml", "[settings]\nfloating-addresses = [\"203.0.113.77\"]\n")
        let settings = Shell.capture("\(check) --candidate \(dir.path)/settings.toml --as \(dir.path)/portfwd.d/settings.toml")
        #expect(settings.status == 1 && settings.stderr.contains("[settings] belong in \(dir.path)/c.toml"), "\(settings.stderr)")
        let main = Shell.capture("\(check) --candidate \(dir.path)/settings.toml --as \(dir.path)/c.toml")
        #expect(main.status == 0 && main.stdout.contains(": 2 forwards of 2 configured guests"), "\(main.stdout)\(main.stderr)")
        // Read as the service reads a drop-in: one others may write is refused.
        chmod("\(dir.path)/moved.toml", 0o666)
        let loose = Shell.capture("\(check) --candidate \(dir.path)/moved.toml --as \(web1)")
        #expect(loose.status == 1 && loose.stderr.contains("\(dir.path)/moved.toml: cannot read the file"), "\(loose.stderr)")
        // Only a file the service would read; and the two options go together.
        for place in ["\(dir.path)/elsewhere.toml", "\(dir.path)/portfwd.d/web1.conf", "\(dir.path)/portfwd.d/.web1.toml",
            "\(dir.path)/portfwd.d/sub/web1.toml"] {
            let r = Shell.capture("\(check) --candidate \(dir.path)/bad.toml --as \(place)")
            #expect(r.status == 1 && r.stderr.contains("the service would not read it"), "\(place): \(r.stderr)")
        }
        #expect(Shell.capture("\(check) --candidate \(dir.path)/bad.toml").status == 64)
        // The live files are as they were.
        #expect((try? String(contentsOfFile: web1, encoding: .utf8)) == "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = "
            + "[\"8080:80\"]\n")
    }

    @Test(.enabled(if: geteuid() == 0, "install-hook needs root")) func installHookNamesTheDaemonsOnlyWhenSomethingChanged() {
        let first = Shell.capture("\(Paths.binary) install-hook --hooks-dir \(dir.path)/hooks")
        #expect(first.status == 0)
        // Whatever runs on this machine now, one line says whether a daemon must restart.
        let advice = first.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(advice.hasPrefix("Restart ") && advice.contains("systemctl restart ") || advice.contains("no restart needed")
                || advice == "No libvirt daemon runs: the next one to start finds the hooks", "\(first.stdout)")
        let removed = Shell.capture("\(Paths.binary) uninstall-hook --hooks-dir \(dir.path)/hooks")
        #expect(removed.status == 0 && !removed.stdout.contains("estart"), "removing hooks needs no restart: \(removed.stdout)")
        _ = Shell.capture("\(Paths.binary) install-hook --hooks-dir \(dir.path)/hooks")
        let again = Shell.capture("\(Paths.binary) install-hook --hooks-dir \(dir.path)/hooks")
        #expect(again.stdout == "hooks already installed in \(dir.path)/hooks\n")
    }

    /// A daemon runs a driver's hooks only if it found one when it started (measured on
    /// libvirt 9.0 and 11.3): the advice follows each running daemon's start time.
    @Test func aRestartIsAskedOnlyOfDaemonsThatStartedWithoutHooks() throws {
        let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
        let boot: Int64 = 1_800_000_000
        func proc(_ daemons: [(pid: Int, name: String, startedAt: Int64)]) -> TempDir {
            let proc = TempDir()
            proc.write("stat", "cpu  1 2 3\nbtime \(boot)\nprocesses 9\n")
            proc.write("1/comm", "systemd\n")
            for d in daemons {
                proc.write("\(d.pid)/comm", "\(d.name)\n")
                // A command with spaces and parentheses: fields are counted after the last ')'.
                let rest = (4...21).map { _ in "0" }.joined(separator: " ")   // fields 4 to 21; 22 is the start
                proc.write("\(d.pid)/stat", "\(d.pid) (\(d.name) (x) y) S \(rest) \((d.startedAt - boot) * ticks) 0 0\n")
            }
            return proc
        }
        func hook(_ hooks: TempDir, _ path: String, modified: Int64) {
            hooks.write(path, "#!/bin/sh\n")
            chmod("\(hooks.path)/\(path)", 0o755)
            var times = [timespec(tv_sec: Int(modified), tv_nsec: 0), timespec(tv_sec: Int(modified), tv_nsec: 0)]
            _ = utimensat(AT_FDCWD, "\(hooks.path)/\(path)", &times, 0)
        }
        let hooks = TempDir()
        let started = boot + 600
        // Each fake /proc is kept alive while it is read (a TempDir is removed when released).
        var kept: [TempDir] = []
        func procPath(_ daemons: [(pid: Int, name: String, startedAt: Int64)]) -> String {
            kept.append(proc(daemons))
            return kept.last!.path
        }
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: procPath([])) == .notRunning)
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: procPath([(77, "libvirtd", started)])) == .restart(["libvirtd"]))
        // A qemu hook from before its start, none for networks: still a restart.
        hook(hooks, "qemu.d/other", modified: started - 60)
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: procPath([(77, "libvirtd", started)])) == .restart(["libvirtd"]))
        // A network hook added after it started does not count; one from before does.
        hook(hooks, "network", modified: started + 60)
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: procPath([(77, "libvirtd", started)])) == .restart(["libvirtd"]))
        hook(hooks, "network.d/other", modified: started - 1)
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: procPath([(77, "libvirtd", started)])) == .alreadyCalling(["libvirtd"]))
        // A file that is not executable is no hook.
        let plain = TempDir()
        plain.write("qemu.d/readme", "")
        plain.write("network.d/readme", "")
        #expect(LibvirtDaemons.advice(hooksDirectory: plain.path, proc: procPath([(77, "libvirtd", started)])) == .restart(["libvirtd"]))
        // Modular daemons: each judged by its own driver.
        let modular = TempDir()
        hook(modular, "qemu.d/other", modified: started - 60)
        #expect(LibvirtDaemons.advice(hooksDirectory: modular.path, proc: procPath([(12, "virtqemud", started), (13, "virtnetworkd", started)]))
                == .restart(["virtnetworkd"]))
    }

    /// The completion scripts come from the command table: every subcommand and option is there,
    /// and bash completes them.
    @Test func completionsKnowEveryCommand() throws {
        let bash = try Shell.run("\(Paths.binary) completions bash")
        for word in ["apply", "status", "watch", "forward", "--running", "--source", "--json"] { #expect(bash.contains(word), "\(word)") }
        let script = "\(dir.path)/c.bash"
        try bash.write(toFile: script, atomically: true, encoding: .utf8)
        let complete = { (words: String, current: Int) in
            try Shell.run("bash -c 'source \(script); COMP_WORDS=(\(words)); COMP_CWORD=\(current); _libvirt_portfwd; echo \"${COMPREPLY[*]}\"'")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try complete("libvirt-portfwd --config x fo", 3) == "forward")
        #expect(try complete("libvirt-portfwd forward \"\"", 2).hasPrefix("add remove list"))
        #expect(try complete("libvirt-portfwd apply --backend \"\"", 3) == "auto nftables iptables")
        // Guests come from virsh, one per line, spaces kept, and never evaluated: a domain
        // name is another user's text, and root presses TAB.
        let marker = "\(dir.path)/evaluated"
        dir.write("names", "web 1\ndb1\nx$(touch \(marker))y\n`touch \(marker)`\n*\n")
        dir.write("bin/virsh", "#!/bin/sh\ncat \(dir.path)/names\n")
        chmod("\(dir.path)/bin/virsh", 0o755)
        // Each reply is what bash puts on the line: read back as the shell reads a command line
        // (eval, as pressing Enter would), it must be the one literal name, having run nothing.
        let completeGuest = { (cur: String) in
            try Shell.run("PATH=\(dir.path)/bin:$PATH bash -c 'source \(script); COMP_WORDS=(libvirt-portfwd forward add \"\(cur)\"); COMP_CWORD=3; "
                + "_libvirt_portfwd; "
                + "for r in \"${COMPREPLY[@]}\"; do eval \"w=($r)\"; printf \"%s:%s|\" \"${#w[@]}\" \"${w[0]}\"; done'")
        }
        #expect(try completeGuest("") == "1:web 1|1:db1|1:x$(touch \(marker))y|1:`touch \(marker)`|1:*|")
        #expect(try completeGuest("d") == "1:db1|")
        #expect(try completeGuest("web\\\\ ") == "1:web 1|", "a quoted prefix, as bash passes it, still matches")
        #expect(access(marker, F_OK) != 0, "a guest's name was run as a command")
        #expect(try complete("libvirt-portfwd forward add web1 --so", 4) == "--source")
        for shell in ["zsh", "fish"] {
            let text = try Shell.run("\(Paths.binary) completions \(shell)")
            #expect(text.contains("forward") && text.contains("running") && text.contains("source"), "\(shell)")
            // The shell itself checks the syntax. `make test-deps` installs both; outside
            // `make test` (no LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED) a missing shell is not a failure.
            guard Shell.capture("command -v \(shell)").status == 0 else {
                if ProcessInfo.processInfo.environment["LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED"] != nil {
                    Issue.record("\(shell) is not installed (make test-deps), so its completion script went unchecked")
                }
                continue
            }
            try text.write(toFile: "\(dir.path)/c.\(shell)", atomically: true, encoding: .utf8)
            #expect(Shell.capture("\(shell) -n \(dir.path)/c.\(shell)").status == 0, "\(shell) syntax")
        }
    }
}

/// Where the command line cannot be read at all.
@Suite(.privileged) struct RootCommandLineTests {
    /// The Swift runtime reads the arguments from /proc/self/cmdline. Without /proc (a bare
    /// chroot) there are none, and `apply` used to print the help and exit 0 having done
    /// nothing; now it says why and fails.
    @Test func withoutProcTheToolFailsInsteadOfDoingNothing() {
        let r = Shell.capture("unshare -m sh -c 'mount -t tmpfs none /proc && exec \(Paths.binary) apply --all'")
        #expect(r.status == 71, "\(r)")
        #expect(r.stderr == "libvirt-portfwd: cannot read the command line from /proc/self/cmdline; is /proc mounted?\n")
        #expect(r.stdout.isEmpty, "no help printed")
    }
}
