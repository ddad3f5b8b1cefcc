import Foundation
import Testing
import PortFwd

/// Every command survives a config it cannot read (issue 24, item 7: 40,000 levels of nesting
/// crashed them all). The service keeps the config that last applied, as the hooks do, logs
/// why, and goes on repairing; under systemd's Restart=on-failure a bad config can therefore
/// never make a crash loop. The real binary and the real `watch`, in namespaces of their own.
@Suite(.privileged, .serialized) struct UnreadableConfigTests {
    let dir = TempDir()

    func arguments() -> String { "--config \(dir.path)/c.toml --state-dir \(dir.path)/state --libvirt-root \(dir.path)/tree" }
    func run(_ ns: Namespace, _ command: String, input: String? = nil) -> Shell.Result {
        Shell.capture("ip netns exec \(ns.name) \(Paths.binary) \(arguments()) \(command)", input: input)
    }
    func table(_ ns: Namespace) -> String { Shell.capture("ip netns exec \(ns.name) nft list table inet libvirt_portfwd").stdout }

    /// Configs the service cannot read: too deep (which crashed every reader before), too
    /// big, not TOML.
    static let unreadable: [(String, String)] = [
        ("[[guest]]\nname = \"web1\"\nforwards = " + String(repeating: "[", count: 40_000) + String(repeating: "]", count: 40_000) + "\n",
         "line 3, column 42: nested more than 32 levels deep"),
        ("[[guest]\n", "line 1, column 9: expected ']]'"),
    ]

    @Test(arguments: 0..<2)
    func anUnreadableConfigKeepsTheLastGoodOne(which: Int) throws {
        let (bad, reason) = Self.unreadable[which]
        dir.write("c.toml", Fixtures.web1)
        try Namespace.with { ns in
            #expect(run(ns, "apply --all").status == 0)
            dir.write("c.toml", bad)
            let watch = try WatchProcess(namespace: ns.name, arguments: arguments(), dir: dir.path)
            defer { watch.stop() }
            try waitFor("the start to apply the config as it last applied") { watch.log.contains("forwards of 1 guests installed") }
            #expect(watch.log.contains("watch start: \(dir.path)/c.toml: \(reason)"), "\(watch.log.prefix(2000))")
            #expect(watch.log.contains("using the config as it last applied"))
            #expect(table(ns).contains("8080"))

            // Reload: the same, and the service lives on.
            kill(watch.pid, SIGHUP)
            try waitFor("the reload to say why it kept the old config") { watch.log.components(separatedBy: "using the config as it last applied")
                .count == 3 }
            #expect(kill(watch.pid, 0) == 0, "the service is alive")

            // Repairs go back to the config that last applied.
            try Shell.run("ip netns exec \(ns.name) nft flush ruleset")
            try waitFor("the table to come back, with web1's forward") { table(ns).contains("8080") }

            // A good config again: the next reload applies it.
            dir.write("c.toml", Fixtures.web1.replacingOccurrences(of: "8080:80", with: "9090:80"))
            kill(watch.pid, SIGHUP)
            try waitFor("the new config to apply") { table(ns).contains("9090") && !table(ns).contains("8080") }
            #expect(kill(watch.pid, 0) == 0, "the service is alive")
        }
    }

    /// With no config applied yet, the service starts all the same, metadata forwards only,
    /// as the hooks do, and says so.
    @Test func anUnreadableConfigBeforeAnyAppliedStartsTheServiceAnyway() throws {
        dir.write("c.toml", Self.unreadable[0].0)
        try Namespace.with { ns in
            let watch = try WatchProcess(namespace: ns.name, arguments: arguments(), dir: dir.path)
            defer { watch.stop() }
            try waitFor("the start to finish") { watch.log.contains("forwards of 0 guests installed") }
            #expect(watch.log.contains("no config has applied yet, so only metadata forwards apply"), "\(watch.log.prefix(2000))")
            kill(watch.pid, SIGHUP)
            try waitFor("the reload to finish") { watch.log.components(separatedBy: "no config has applied yet").count == 3 }
            #expect(kill(watch.pid, 0) == 0, "the service is alive")
        }
    }

    /// Nesting spelled four ways, each 40,000 deep, in the main file and in a drop-in: the
    /// hooks go on with the config as it last applied (a guest still starts, and its stop still
    /// removes its forward), and `status` and `check` say why in a line.
    @Test(arguments: 0..<4)
    func hooksAndStatusSurviveADeepConfig(way: Int) throws {
        let deep = [
            "[[guest]]\nname = \"web1\"\nforwards = " + String(repeating: "[", count: 40_000) + String(repeating: "]", count: 40_000) + "\n",
            "x = " + String(repeating: "{a = ", count: 40_000) + "1" + String(repeating: "}", count: 40_000) + "\n",
            Array(repeating: "a", count: 40_000).joined(separator: ".") + " = 1\n",
            "[[" + Array(repeating: "a", count: 40_000).joined(separator: ".") + "]]\n",
        ][way]
        dir.write("tree/etc/libvirt/qemu/networks/default.xml", Fixtures.defaultNetwork)
        dir.write("c.toml", Fixtures.web1)
        let xml = String(decoding: Fixtures.domain(), as: UTF8.self)
        try Namespace.with { ns in
            #expect(run(ns, "hook qemu -- web1 start begin -", input: xml).status == 0)
            #expect(table(ns).contains("8080"))
            if way % 2 == 0 {
                dir.write("c.toml", deep)
            } else {
                try FileManager.default.createDirectory(atPath: "\(dir.path)/portfwd.d", withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o755])
                dir.write("portfwd.d/deep.toml", deep)
            }
            for command in ["status", "check"] {
                let r = run(ns, command)
                // status: 2, unhealthy (the config is a problem it reports); check: 1. Never a signal.
                #expect(r.status == (command == "status" ? 2 : 1), "\(command): \(r.status) \(r.stderr.prefix(300))")
                #expect(r.stderr.contains("nested more than 32 levels deep"), "\(command): \(r.stderr.prefix(300))")
                #expect(r.stderr.split(separator: "\n").allSatisfy { $0.utf8.count < 600 })
            }
            let prepare = run(ns, "hook qemu -- web1 prepare begin -", input: xml)
            #expect(prepare.status == 0, "\(prepare.stderr.prefix(300))")
            let stopped = run(ns, "hook qemu -- web1 stopped end -", input: xml)
            #expect(stopped.status == 0, "\(stopped.stderr.prefix(300))")
            #expect(stopped.stderr.contains("using the config as it last applied"), "\(stopped.stderr.prefix(300))")
            #expect(!table(ns).contains("8080"))
        }
    }
}
