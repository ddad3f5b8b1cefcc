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
        #expect(version.hasPrefix("libvirt-portfwd 0.2.0 (commit "))
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
            Shell.capture("cd / && setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \(dir.path)/tool \(arguments) --config \(dir.path)/c.toml --state-dir \(dir.path)/nobody")
        }
        for ok in ["check", "export --all", "export --all --backend iptables", "--help"] {
            let r = asNobody(ok)
            #expect(r.status == 0 && r.stderr.isEmpty, "\(ok): \(r.stderr)")
        }
        for (command, name) in [("apply", "apply"), ("flush", "flush"), ("status", "status"), ("check --kernel", "check --kernel"), ("install-hook", "install-hook")] {
            let r = asNobody(command)
            #expect(r.status == 77, "\(command)")
            #expect(r.stderr.hasPrefix("libvirt-portfwd: \(name) needs root") && r.stderr.split(separator: "\n").count == 1, "\(command): \(r.stderr)")
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
        #expect(r.stderr == "libvirt-portfwd: guest web1: forward 203.0.113.77:8443:443/tcp is bound to 203.0.113.77, which this host does not hold; add it to settings.floating-addresses if it arrives later (keepalived, say)\n")
        dir.write("f.toml", "[settings]\nfloating-addresses = [\"203.0.113.77\"]\n[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"203.0.113.77:8443:443\"]\n")
        #expect(Shell.capture("\(Paths.binary) check --config \(dir.path)/f.toml --state-dir \(dir.path)/s").status == 0)
        // Docker's 0.0.0.0 means every address; loopback is refused with the reason.
        dir.write("d.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"0.0.0.0:8080:80\"]\n")
        #expect(Shell.capture("\(Paths.binary) check --config \(dir.path)/d.toml --state-dir \(dir.path)/s").status == 0)
        dir.write("l.toml", "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"127.0.0.1:8080:80\"]\n")
        let loopback = Shell.capture("\(Paths.binary) check --config \(dir.path)/l.toml --state-dir \(dir.path)/s")
        #expect(loopback.status == 1 && loopback.stderr.contains("forwarding from it needs route_localnet"))
    }

    @Test(.enabled(if: geteuid() == 0, "install-hook needs root")) func installHookNamesTheDaemonsOnlyWhenSomethingChanged() {
        let first = Shell.capture("\(Paths.binary) install-hook --hooks-dir \(dir.path)/hooks")
        #expect(first.status == 0)
        #expect(first.stdout.contains("Restart ") && first.stdout.contains("systemctl restart "), "\(first.stdout)")
        #expect(first.stdout.contains("so it picks up the new hooks") || first.stdout.contains("so they pick up the new hooks"), "\(first.stdout)")
        let removed = Shell.capture("\(Paths.binary) uninstall-hook --hooks-dir \(dir.path)/hooks")
        #expect(removed.stdout.contains("so it stops calling them") || removed.stdout.contains("so they stop calling them"), "\(removed.stdout)")
        _ = Shell.capture("\(Paths.binary) install-hook --hooks-dir \(dir.path)/hooks")
        let again = Shell.capture("\(Paths.binary) install-hook --hooks-dir \(dir.path)/hooks")
        #expect(again.stdout == "hooks already installed in \(dir.path)/hooks\n")
    }

    @Test func theDaemonsToRestartAreTheOnesThisHostRuns() throws {
        let proc = TempDir(), bin = TempDir()
        proc.write("1/comm", "systemd\n")
        proc.write("77/comm", "libvirtd\n")
        #expect(LibvirtDaemons.detect(proc: proc.path, binaries: bin.path) == ["libvirtd"])
        let modular = TempDir()
        modular.write("12/comm", "virtqemud\n")
        modular.write("13/comm", "virtnetworkd\n")
        #expect(LibvirtDaemons.detect(proc: modular.path, binaries: bin.path) == ["virtqemud", "virtnetworkd"])
        // Nothing runs: what is installed decides.
        bin.write("virtqemud", "")
        chmod("\(bin.path)/virtqemud", 0o755)
        #expect(LibvirtDaemons.detect(proc: TempDir().path, binaries: bin.path) == ["virtqemud", "virtnetworkd"])
        #expect(LibvirtDaemons.detect(proc: TempDir().path, binaries: TempDir().path) == ["libvirtd"])
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
        // Guests come from virsh, one per line, spaces kept; options still complete after one.
        dir.write("bin/virsh", "#!/bin/sh\nprintf 'web 1\\ndb1\\n'\n")
        chmod("\(dir.path)/bin/virsh", 0o755)
        let guests = try Shell.run("PATH=\(dir.path)/bin:$PATH bash -c 'source \(script); COMP_WORDS=(libvirt-portfwd forward add \"\"); COMP_CWORD=3; _libvirt_portfwd; printf \"%s|\" \"${COMPREPLY[@]}\"'")
        #expect(guests == "web 1|db1|")
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
