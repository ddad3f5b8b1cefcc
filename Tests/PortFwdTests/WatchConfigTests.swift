import Foundation
import Testing
@testable import PortFwd
import PortFwdSystem

/// The service survives a config it cannot read (issue 24, item 7): it keeps the config that
/// last applied, as the hooks do, logs why, and goes on repairing; under systemd's
/// Restart=on-failure a bad config can therefore never make a crash loop. The real `watch`,
/// in a namespace of its own.
@Suite(.privileged, .serialized) struct WatchConfigTests {
    let dir = TempDir()

    func arguments() -> String { "--config \(dir.path)/c.toml --state-dir \(dir.path)/state --libvirt-root \(dir.path)/tree" }
    func run(_ ns: Namespace, _ command: String) -> Shell.Result {
        Shell.capture("ip netns exec \(ns.name) \(Paths.binary) \(arguments()) \(command)")
    }
    func table(_ ns: Namespace) -> String { Shell.capture("ip netns exec \(ns.name) nft list table inet libvirt_portfwd").stdout }

    /// Configs the service cannot read: too deep (which crashed every reader before), too
    /// big, not TOML.
    static let unreadable: [(String, String)] = [
        ("[[guest]]\nname = \"web1\"\nforwards = " + String(repeating: "[", count: 40_000) + String(repeating: "]", count: 40_000) + "\n",
         "line 3, column 44: nested more than 32 levels deep"),
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
            try waitFor("the reload to say why it kept the old config") { watch.log.components(separatedBy: "using the config as it last applied").count == 3 }
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
}
