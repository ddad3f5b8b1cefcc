import Foundation
import Testing
import PortFwdCore
import PortFwdSystem

/// The `hook qemu` command itself: stdin, config reading and the no-op triage in front of the library.
@Suite struct HookCommandTests {
    let dir = TempDir()
    let xml = "<domain><name>plain</name><uuid>0a0b0c0d-0000-4000-8000-000000000099</uuid></domain>"

    func hook(_ config: String, _ op: String = "prepare") -> Shell.Result {
        Shell.capture("\(Paths.binary) hook qemu --config \(config) --state-dir \(dir.path)/state -- plain \(op) begin -", input: xml)
    }

    @Test func guestTheConfigDoesNotNameIsLetThroughEvenIfTheConfigIsBroken() {
        dir.write("broken.toml", "[[guest]]\nname = = \"web1\"\n")
        let r = hook("\(dir.path)/broken.toml")
        #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty)
    }

    /// A config that does not parse is said loudly, and the guest starts all the same: the
    /// config as it last applied (none here) stands in.
    @Test func configThatIsNotTextIsAnErrorNotAnEmptyConfig() throws {
        try Data([0xff, 0xfe, 0x5b]).write(to: URL(fileURLWithPath: "\(dir.path)/binary.toml"))
        let r = hook("\(dir.path)/binary.toml")
        #expect(r.status == 0)
        #expect(r.stderr == "libvirt-portfwd: guest plain prepare: \(dir.path)/binary.toml: not UTF-8 text (libvirt-portfwd check shows every "
            + "problem); no config has applied yet, so only metadata forwards apply\n")
        #expect(r.stdout.isEmpty)
    }

    @Test func brokenConfigNamingTheGuestIsOneLineAndTheGuestStarts() {
        dir.write("named.toml", "[[guest]]\nname = \"plain\"\nforwards = [\"0\"]\n")
        let r = hook("\(dir.path)/named.toml")
        #expect(r.status == 0)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.contains("bad port spec '0': port 0 is not allowed"))
        // stopped never fails, whatever the config.
        #expect(hook("\(dir.path)/named.toml", "stopped").status == 0)
    }

    /// The shims put options first and a `--` before libvirt's words; any other order of the
    /// same call must reach the same answer: here a refusal (plain's port is web1's) and a
    /// no-op.
    @Test func everyArgumentShapeGivesTheSameAnswer() throws {
        let web1 = "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n"
        dir.write("named.toml", web1 + "[[guest]]\nname = \"plain\"\naddress = \"192.168.122.11\"\nforwards = [\"8080:80\"]\n")
        dir.write("other.toml", web1)
        let state = "\(dir.path)/state"
        try StateStore(directory: state).save(RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("web1"),
                                                           address4: IPAddress("192.168.122.10"), addressSource: .explicit))
        for (config, status) in [("named.toml", Int32(1)), ("other.toml", 0)] {
            let path = "\(dir.path)/\(config)"
            let shapes = [
                "--config \(path) --state-dir \(state) -- plain prepare begin -",
                "--config=\(path) --state-dir=\(state) plain prepare begin -",
                "plain prepare begin - --config \(path) --state-dir \(state)",
                "--state-dir \(state) plain --config \(path) prepare begin -",
            ]
            for shape in shapes {
                let r = Shell.capture("\(Paths.binary) hook qemu \(shape)", input: xml)
                #expect(r.status == status, "\(config): \(shape): \(r.stderr)")
                #expect(r.stdout.isEmpty)
                if status == 1 { #expect(r.stderr.contains("cannot start guest plain: conflict: tcp port 8080 on every address"), "\(r.stderr)") }
            }
            // The same through the environment, as libvirtd would run an admin's own wrapper.
            let r = Shell.capture("LIBVIRT_PORTFWD_CONFIG=\(path) LIBVIRT_PORTFWD_STATE_DIR=\(state) \(Paths.binary) hook qemu -- plain "
                + "prepare begin -", input: xml)
            #expect(r.status == status, "\(config) from the environment: \(r.stderr)")
        }
    }
}

/// The hook and flush as processes, against a real kernel in a namespace of their own.
@Suite(.privileged, .serialized) struct RootHookCommandTests {
    let dir = TempDir()
    let xml = String(decoding: Fixtures.domain(), as: UTF8.self)

    func tool(_ ns: Namespace, _ arguments: String, input: String? = nil) -> Shell.Result {
        // Global options first: after `--` every word is libvirt's.
        Shell.capture("ip netns exec \(ns.name) \(Paths.binary) --config \(dir.path)/c.toml --state-dir \(dir.path)/state --libvirt-root "
            + "\(dir.path)/tree \(arguments)", input: input)
    }

    func elements(_ ns: Namespace) -> String {
        Shell.capture("ip netns exec \(ns.name) nft list map inet libvirt_portfwd dnat4_any").stdout
    }

    /// Stopping removes the guest's forwards even when the config no longer parses: the
    /// config as it last applied stands in (hardening, class 5).
    @Test func stoppedWithABrokenConfigStillRemovesTheForward() throws {
        dir.write("tree/etc/libvirt/qemu/networks/default.xml", Fixtures.defaultNetwork)
        dir.write("c.toml", Fixtures.web1Discovered)
        try Namespace.with { ns in
            #expect(tool(ns, "hook qemu -- web1 start begin -", input: xml).status == 0)
            #expect(elements(ns).contains("tcp . 8080 : 192.168.122.10 . 80"))
            dir.write("c.toml", "[[guest]]\nname = = broken\n")
            let r = tool(ns, "hook qemu -- web1 stopped end -", input: xml)
            #expect(r.status == 0)
            #expect(r.stderr.contains("using the config as it last applied"), "\(r.stderr)")
            #expect(!elements(ns).contains("8080"))
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/state")) ?? []).filter { $0.hasSuffix(".json") }.isEmpty)
        }
    }

    /// The same when no config file existed at the start, so none ever applied: the guest's
    /// metadata forward still goes when it stops.
    @Test func stoppedWithABrokenConfigAndNoneEverAppliedStillRemovesTheForward() throws {
        dir.write("tree/etc/libvirt/qemu/networks/default.xml", Fixtures.defaultNetwork)
        let xml = String(decoding: Fixtures.domain(metadata: Fixtures.metadata("<forward spec='9090:90'/>")), as: UTF8.self)
        try Namespace.with { ns in
            let start = tool(ns, "hook qemu -- web1 start begin -", input: xml)
            #expect(start.status == 0, "\(start.stderr)")
            #expect(elements(ns).contains("tcp . 9090 : 192.168.122.10 . 90"))
            dir.write("c.toml", "[[guest]]\nname = = broken\n")
            let r = tool(ns, "hook qemu -- web1 stopped end -", input: xml)
            #expect(r.status == 0)
            #expect(r.stderr.contains("no config has applied yet"), "\(r.stderr)")
            #expect(!elements(ns).contains("9090"))
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/state")) ?? []).filter { $0.hasSuffix(".json") }.isEmpty)
        }
    }

    /// The admin's way out works when the state directory's lock is held by a stuck process
    /// or the directory is read-only (hardening, class 5).
    @Test func flushWorksWithoutTheLockOrAWritableStateDirectory() throws {
        dir.write("c.toml", Fixtures.web1)
        try Namespace.with { ns in
            #expect(tool(ns, "apply --all").status == 0)
            #expect(elements(ns).contains("8080"))
            // The holder is the process that holds the lock (sh execs sleep with fd 9 open), so
            // ending it by PID releases the lock.
            let holder = try Spawn.start(["/bin/sh", "-c", "exec 9>>\(dir.path)/state/lock && flock 9 && exec sleep 600"])
            defer { kill(holder, SIGKILL); _ = Spawn.wait(holder) }
            for _ in 0..<100 where Shell.capture("flock -n \(dir.path)/state/lock true").status == 0 { usleep(20_000) }
            let r = tool(ns, "flush")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("another process has held it for 5 s; removing the rules without the lock"), "\(r.stderr)")
            #expect(Shell.capture("ip netns exec \(ns.name) nft list tables").stdout.isEmpty)
            kill(holder, SIGKILL)
            #expect(tool(ns, "apply --all").status == 0)
            let ro = Shell.capture("ip netns exec \(ns.name) unshare -m sh -c 'mount --bind \(dir.path)/state \(dir.path)/state && mount -o "
                + "remount,bind,ro \(dir.path)/state && \(Paths.binary) flush --config \(dir.path)/c.toml --state-dir \(dir.path)/state'")
            #expect(ro.status == 0, "\(ro.stderr)")
            #expect(ro.stderr.contains("Read-only file system"), "\(ro.stderr)")
            #expect(Shell.capture("ip netns exec \(ns.name) nft list tables").stdout.isEmpty)
        }
    }
}
