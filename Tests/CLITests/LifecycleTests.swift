import Foundation
import Testing
import PortFwd
import PortFwdCore
@testable import PortFwdSystem

/// The package's life on a host, in the parts a unit test can hold: which daemons call hooks,
/// what the service publishes, and what `check` says once.
@Suite struct LifecycleTests {
    let host = FakeHost()

    /// A fake /proc with these daemons, started at these times.
    static func proc(_ daemons: [(pid: Int, name: String, startedAt: Int64)], boot: Int64) -> TempDir {
        let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
        let proc = TempDir()
        proc.write("stat", "cpu  1 2 3\nbtime \(boot)\nprocesses 9\n")
        for d in daemons {
            proc.write("\(d.pid)/comm", "\(d.name)\n")
            let rest = (4...21).map { _ in "0" }.joined(separator: " ")
            proc.write("\(d.pid)/stat", "\(d.pid) (\(d.name)) S \(rest) \((d.startedAt - boot) * ticks) 0 0\n")
        }
        return proc
    }

    static func hook(_ hooks: TempDir, _ path: String, modified: Int64) {
        hooks.write(path, "#!/bin/sh\n")
        chmod("\(hooks.path)/\(path)", 0o755)
        var times = [timespec(tv_sec: Int(modified), tv_nsec: 0), timespec(tv_sec: Int(modified), tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, "\(hooks.path)/\(path)", &times, 0)
    }

    /// A daemon that started with the hooks keeps calling them when they are rewritten (an
    /// upgrade) or removed and written again (a reinstall): the note made while that was
    /// visible says so, and only for that very process.
    @Test func theRestartAdviceFollowsWhatTheRunningDaemonSaw() throws {
        let boot: Int64 = 1_800_000_000, started = boot + 600
        let hooks = TempDir(), state = TempDir()
        let memory = "\(state.path)/run/daemons-with-hooks"
        let proc = Self.proc([(77, "libvirtd", started)], boot: boot)
        // Installed before libvirtd started: it calls them, and the note says so.
        Self.hook(hooks, "qemu.d/libvirt-portfwd", modified: started - 60)
        Self.hook(hooks, "network.d/libvirt-portfwd", modified: started - 60)
        LibvirtDaemons.remember(hooksDirectory: hooks.path, proc: proc.path, memory: memory)
        let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
        #expect(try String(contentsOfFile: memory, encoding: .utf8) == "libvirtd 77 \(600 * ticks) network,qemu\n")
        // An upgrade rewrote them after its start: without the note, a restart would be asked.
        Self.hook(hooks, "qemu.d/libvirt-portfwd", modified: started + 60)
        Self.hook(hooks, "network.d/libvirt-portfwd", modified: started + 60)
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: proc.path) == .restart(["libvirtd"]))
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: proc.path, memory: memory) == .alreadyCalling(["libvirtd"]))
        // Removed (the package's remove) and noted first, then written again (its install).
        LibvirtDaemons.remember(hooksDirectory: hooks.path, proc: proc.path, memory: memory)
        try FileManager.default.removeItem(atPath: "\(hooks.path)/qemu.d")
        try FileManager.default.removeItem(atPath: "\(hooks.path)/network.d")
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: proc.path, memory: memory) == .alreadyCalling(["libvirtd"]))
        // Another libvirtd (restarted: another start, or the PID used again) is not that process.
        let restarted = Self.proc([(77, "libvirtd", started + 3600)], boot: boot)
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: restarted.path, memory: memory) == .restart(["libvirtd"]))
        // A note is only ever written of what is true now: that process had no hooks.
        LibvirtDaemons.remember(hooksDirectory: hooks.path, proc: restarted.path, memory: memory)
        #expect(!FileManager.default.fileExists(atPath: memory))
        // A daemon that started without hooks is never noted, whatever the note claimed before.
        let fresh = Self.proc([(80, "libvirtd", started)], boot: boot)
        try "libvirtd 80 \(600 * ticks) qemu\n".write(toFile: memory, atomically: true, encoding: .utf8)
        chmod(memory, 0o600)
        #expect(LibvirtDaemons.advice(hooksDirectory: hooks.path, proc: fresh.path, memory: memory) == .restart(["libvirtd"]),
                "a note for one driver does not cover the other")
    }

    /// Noted lines are read as typed values: anything else in the file is ignored, and a
    /// driver a daemon does not serve never counts.
    @Test func aNoteIsReadAsTypedValuesOnly() throws {
        let state = TempDir()
        let memory = "\(state.path)/note"
        try "libvirtd 77 100 qemu,network\nvirtqemud 8 9 network\nx 1 2 qemu\nlibvirtd 77 abc qemu\n\u{0}\nvirtnetworkd 5 6 network,qemu\n"
            .write(toFile: memory, atomically: true, encoding: .utf8)
        chmod(memory, 0o600)
        #expect(LibvirtDaemons.recall(memory) == ["libvirtd 77 100": ["qemu", "network"], "virtqemud 8 9": [], "virtnetworkd 5 6": ["network"]])
    }

    /// `settings.prometheus-textfile`: an absolute .prom path, or "" for none; anything else is
    /// refused with its key.
    @Test(arguments: [("/var/lib/x/pf.prom", "/var/lib/x/pf.prom"), ("", "")])
    func theTextfileSettingIsRead(text: String, expected: String) throws {
        let config = try Config.parse("[settings]\nprometheus-textfile = \"\(text)\"\n")
        #expect(config.settings.prometheusTextfile == expected)
    }

    @Test(arguments: ["pf.prom", "/var/lib/x/pf.txt", "/var/lib/../../etc/x.prom", "/.prom"])
    func aBadTextfileIsRefused(text: String) {
        #expect(throws: PortFwdError.self) { try Config.parse("[settings]\nprometheus-textfile = \"\(text)\"\n") }
    }

    /// The service's publication: the report `status --json` prints, decoded back whole by a
    /// reader, and the textfile `status --prometheus` prints, both written whole.
    @Test func theServicePublishesTheStatusAndTheMetrics() throws {
        let textfile = TempDir()
        let toml = "[settings]\nprometheus-textfile = \"\(textfile.path)/libvirt-portfwd.prom\"\n"
            + "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\", \"9000:90\"]\n"
        let reconciler = try host.reconciler(toml)
        var change = Change.reapply
        change.mode = .all
        _ = try reconciler.reconcile(change)
        let publisher = Publisher(interval: 60)
        #expect(publisher.publish(reconciler, plan: nil, mode: .all, at: 100) == nil)
        let published = try #require(try PublishedStatus.read(reconciler.store))
        let live = try reconciler.status()
        #expect(published.report.forwards.map(\.spec) == live.forwards.map(\.spec))
        #expect(published.report.healthy == live.healthy && published.report.mode == "all")
        #expect(published.age < 60)
        // The publication is no guest's record: loading the records finds nothing amiss.
        #expect(reconciler.store.load().problems.isEmpty, "\(reconciler.store.load().problems)")
        let json = try String(contentsOfFile: "\(reconciler.store.directory)/status", encoding: .utf8)
        #expect(!json.contains("\\/"), "slashes as they are")
        let prom = try String(contentsOfFile: "\(textfile.path)/libvirt-portfwd.prom", encoding: .utf8)
        #expect(prom == PrometheusText(live).text)
        // Nothing changed and the interval has not passed: nothing written; then it has.
        try FileManager.default.removeItem(atPath: "\(textfile.path)/libvirt-portfwd.prom")
        _ = publisher.publish(reconciler, plan: nil, mode: .all, at: 130)
        #expect(!FileManager.default.fileExists(atPath: "\(textfile.path)/libvirt-portfwd.prom"))
        #expect(publisher.due() == 160)
        _ = publisher.publish(reconciler, plan: nil, mode: .all, at: 160)
        #expect(FileManager.default.fileExists(atPath: "\(textfile.path)/libvirt-portfwd.prom"))
        // A change of mode is published at once.
        try FileManager.default.removeItem(atPath: "\(textfile.path)/libvirt-portfwd.prom")
        _ = publisher.publish(reconciler, plan: nil, mode: .running, at: 161)
        #expect(FileManager.default.fileExists(atPath: "\(textfile.path)/libvirt-portfwd.prom"))
        // No temporary file is left beside either.
        #expect(try FileManager.default.contentsOfDirectory(atPath: textfile.path) == ["libvirt-portfwd.prom"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: reconciler.store.directory).filter { $0.hasSuffix(".tmp") }.isEmpty)
    }

    /// The report is for group libvirt, and no one else; the directory lets the group reach
    /// it, never list or write.
    @Test(.enabled(if: getgrnam("libvirt") != nil && geteuid() == 0, "needs root and group libvirt"))
    func theReportIsReadableByGroupLibvirtOnly() throws {
        let reconciler = try host.reconciler("")
        _ = Publisher().publish(reconciler, plan: nil, mode: .running, at: 0)
        let gid = getgrnam("libvirt")!.pointee.gr_gid
        var file = stat(), directory = stat()
        #expect(stat("\(reconciler.store.directory)/status", &file) == 0)
        let fileMode: mode_t = file.st_mode & 0o777
        #expect(file.st_gid == gid)
        #expect(file.st_uid == 0)
        #expect(fileMode == 0o640)
        #expect(stat(reconciler.store.directory, &directory) == 0)
        let directoryMode: mode_t = directory.st_mode & 0o777
        #expect(directory.st_gid == gid)
        #expect(directoryMode == 0o710)
        // And the store still trusts its own directory.
        try SafeFile.directory(reconciler.store.directory, create: false)
    }

    /// Without the key, the textfile goes to Debian's node_exporter directory, for the
    /// service of the default state directory only; "" writes none.
    @Test func theDefaultTextfileIsOnlyTheDefaultServices() {
        var settings = Settings()
        #expect(Publisher.textfile(settings, store: StateStore(directory: "/tmp/elsewhere")) == nil)
        settings.prometheusTextfile = ""
        #expect(Publisher.textfile(settings, store: StateStore(directory: StateStore.defaultDirectory)) == nil)
        settings.prometheusTextfile = "/x/y.prom"
        #expect(Publisher.textfile(settings, store: StateStore(directory: "/tmp/elsewhere")) == "/x/y.prom")
    }

    /// The package's removal notes what to go back to; an admin's own off is kept.
    @Test func aRemovalNotesTheModeAndAnAdminsOffIsKept() throws {
        let store = host.store
        #expect(store.modeBeforeRemoval == nil)
        try store.setModeBeforeRemoval(.all)
        #expect(store.modeBeforeRemoval == .all)
        try store.setModeBeforeRemoval(.off)
        #expect(store.modeBeforeRemoval == nil)
        try store.setModeBeforeRemoval(.running)
        try store.setModeBeforeRemoval(nil)
        #expect(store.modeBeforeRemoval == nil)
        host.state.write("run/mode.before-removal", "off\n")
        chmod("\(store.directory)/mode.before-removal", 0o600)
        #expect(store.modeBeforeRemoval == nil, "off is never something to resume")
    }
}

/// The command line, as an admin meets it on a host.
@Suite struct LifecycleCommandTests {
    let dir = TempDir()

    /// Every shut-off guest without an address is said once, with the count, not once each.
    @Test func checkSaysOnceHowManyStoppedGuestsHaveNoAddress() throws {
        var toml = "[[guest]]\nname = \"fixed\"\naddress = \"192.168.122.9\"\nforwards = [\"7000:70\"]\n"
        for i in 1...7 { toml += "[[guest]]\nname = \"vm\(i)\"\nforwards = [\"\(8000 + i):80\"]\n" }
        dir.write("c.toml", toml)
        let check = Shell.capture("\(Paths.binary) check --config \(dir.path)/c.toml --state-dir \(dir.path)/state --libvirt-root /nonexistent")
        #expect(check.status == 0, "\(check.stderr)")
        let expected = "libvirt-portfwd: 7 configured guests not running and without an address in the config (vm1, vm2, vm3, vm4, vm5, …): "
            + "their forwards are checked when they start and their address is known\n"
        #expect(check.stderr == expected, "\(check.stderr)")
    }

    /// Without root, `status` reads what the service published and says how old it is; with no
    /// publication it says why it cannot, and exits 77.
    @Test(.enabled(if: geteuid() == 0 && getgrnam("libvirt") != nil, "needs root (to act as another user) and group libvirt"))
    func statusWithoutRootReadsThePublishedReport() throws {
        let host = FakeHost()
        chmod(host.state.path, 0o755)
        let reconciler = try host.reconciler("[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\nforwards = [\"8080:80\"]\n")
        var change = Change.reapply
        change.mode = .all
        _ = try reconciler.reconcile(change)
        let gid = getgrnam("libvirt")!.pointee.gr_gid
        let asMember = "setpriv --reuid=65534 --regid=65534 --groups=\(gid) \(Paths.binary) status --state-dir \(reconciler.store.directory)"
        let asStranger = "setpriv --reuid=65534 --regid=65534 --clear-groups \(Paths.binary) status --state-dir \(reconciler.store.directory)"
        let none = Shell.capture(asMember)
        // Before the service publishes, the state directory is root's alone.
        #expect(none.status == 77 && none.stderr.contains("membership of group libvirt"), "\(none.stderr)")
        _ = Publisher().publish(reconciler, plan: nil, mode: .all, at: 0)
        let member = Shell.capture(asMember)
        #expect(member.stdout.contains("web1") && member.stdout.contains("8080:80"), "\(member.stdout)\(member.stderr)")
        #expect(member.stderr.contains("as the libvirt-portfwd service published it 0 s ago")
                || member.stderr.contains("as the libvirt-portfwd service published it 1 s ago"), "\(member.stderr)")
        let json = Shell.capture(asMember + " --json")
        let decoded = try JSONDecoder().decode(StatusReport.self, from: Data(json.stdout.utf8))
        #expect(decoded.forwards.map(\.spec) == ["8080:80/tcp"])
        let stranger = Shell.capture(asStranger)
        #expect(stranger.status == 77 && stranger.stderr.contains("membership of group libvirt"), "\(stranger.stderr)")
        // Anything that changes state still needs root.
        let apply = Shell.capture("setpriv --reuid=65534 --regid=65534 --groups=\(gid) \(Paths.binary) apply --state-dir "
            + "\(reconciler.store.directory)")
        #expect(apply.status == 77)
    }
}

/// `forward` against a real libvirtd, with real sockets: the commands tell the whole truth.
@Suite(.privileged, .serialized) struct RootLifecycleTests {
    /// `forward add` of a port a host service listens on: stored in the metadata, left out,
    /// exit 2 with why and what to do; root's `--in config` then installs it over the service.
    /// `forward remove GUEST PORT` finds the one forward of that host port, or lists them; a
    /// mistyped guest gets the nearest name; `forward list --json` writes `/` as `/`.
    @Test func forwardCommandsTellTheWholeTruth() throws {
        let lab = try LibvirtLab(config: "[[guest]]\nname = \"web1\"\naddress = \"192.168.122.10\"\n")
        defer { lab.close() }
        try lab.serveInGuest(port: 80)
        _ = try lab.startInLab(["socat", "TCP-LISTEN:5555,fork,reuseaddr", "SYSTEM:echo host"])
        try waitFor("the host's service") { lab.connect(port: 5555) == "host" }
        try lab.define("web1", mac: "52:54:00:00:00:10")
        try lab.virsh("start web1")

        let shadowed = lab.toolResult("forward add web1 5555:80")
        #expect(shadowed.status == 2, "\(shadowed.stdout)\(shadowed.stderr)")
        #expect(shadowed.stderr.contains("5555:80/tcp is stored but not installed (host-service)"), "\(shadowed.stderr)")
        #expect(shadowed.stderr.contains("libvirt-portfwd forward add web1 5555:80/tcp --in config"), "\(shadowed.stderr)")
        #expect(lab.connect(port: 5555) == "host", "the host's service still answers")
        let list = lab.toolResult("forward list web1")
        #expect(list.stdout.contains("running, left out (host-service)"), "\(list.stdout)")
        let forced = lab.toolResult("forward add web1 5555:80 --in config")
        #expect(forced.status == 0 && forced.stderr.contains("hides a host service listening on tcp *:5555"), "\(forced.stdout)\(forced.stderr)")
        #expect(lab.reach(port: 5555) == "guest-192.168.122.10")

        let added = lab.toolResult("forward add web1 8080:80 --source 203.0.113.0/24")
        #expect(added.status == 0, "\(added.stderr)")
        let json = lab.toolResult("forward list web1 --json")
        #expect(json.stdout.contains("\"203.0.113.0/24\"") && !json.stdout.contains("\\/"), "\(json.stdout)")
        #expect(json.stdout.contains("\"state\" : \"installed\""), "\(json.stdout)")

        _ = try lab.tool("forward add web1 8081:81")
        _ = try lab.tool("forward add web1 8081:81/udp")
        let several = lab.toolResult("forward remove web1 8081")
        #expect(several.status != 0 && several.stderr.contains("host port 8081 is in several, name one: 8081:81/tcp, 8081:81/udp"),
            "\(several.stderr)")
        let one = lab.toolResult("forward remove web1 8080")
        #expect(one.status == 0 && one.stdout.contains("removed 8080 from web1"), "\(one.stdout)\(one.stderr)")
        #expect(try !lab.dnatElements().contains { $0.contains("8080") })
        let none = lab.toolResult("forward remove web1 7777")
        #expect(none.status != 0 && none.stderr.contains("has no forward 7777:7777/tcp; its forwards: "), "\(none.stderr)")

        let typo = lab.toolResult("forward add wbe1 9090:90")
        #expect(typo.status == 1 && typo.stderr.contains("no domain is named 'wbe1'") && typo.stderr.contains("did you mean 'web1'?"),
            "\(typo.stderr)")
    }
}
