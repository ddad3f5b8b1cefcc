import Foundation
import Testing
@testable import PortFwd
import PortFwdCore

/// `status --prometheus` is read by a real Prometheus text parser (the prometheus-client
/// package's), names that need escaping included, and says what the report says.
@Suite struct PrometheusTests {
    static let config = """
        [[guest]]
        name = "we\\"b\\\\1 {x}"
        address = "192.168.122.10"
        forwards = ["8080:80", "8081:80", "5353:53/udp"]
        [[guest]]
        name = "db"
        forwards = ["5432"]

        """

    /// Without the parser these tests are skipped, and shown as skipped; under `make test`
    /// (LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED=1) they run and fail instead.
    @Test(.enabled(if: PrometheusParser.installed || Privilege.required, "needs python3-prometheus-client (make test-deps)"))
    func aRealParserReadsWhatStatusSays() throws {
        let host = FakeHost()
        // Both run; db has no address yet.
        try host.store.save(RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("we\"b\\1 {x}"),
            address4: IPAddress("192.168.122.10")))
        try host.store.save(RunningGuest(uuid: try DomainUUID("00000000-0000-0000-0000-0000000000db"), name: try GuestName("db"), address4: nil))
        _ = try host.reconciler(Self.config).reconcile(.reapply)
        host.nft.count("fwd4_any", "tcp . 8081", bytes: 1500)
        host.nft.count("dlv4_any", "tcp . 8081", bytes: 1500)
        let report = try host.reconciler(Self.config).status()
        #expect(report.pending.map(\.guest) == ["db"], "\(report.pending)")
        let text = PrometheusText(report).text
        let parsed = try PrometheusParser.parse(text)
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            parsed.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
        }
        #expect(value("libvirt_portfwd_healthy") == 0, "a pending guest")
        #expect(value("libvirt_portfwd_problems") == Double(report.problems.count))
        #expect(value("libvirt_portfwd_forwards") == 3)
        let web = "we\"b\\1 {x}"
        #expect(value("libvirt_portfwd_forward_packets_total", ["guest": web, "spec": "8080:80/tcp"]) == 0,
            "two host ports to one guest port count apart")
        #expect(value("libvirt_portfwd_forward_bytes_total", ["guest": web, "uuid": Fixtures.web1UUID, "spec": "8081:80/tcp"]) == 1500)
        #expect(value("libvirt_portfwd_forward_delivered_packets_total", ["guest": web, "spec": "8081:80/tcp"]) == 1)
        #expect(value("libvirt_portfwd_forward_delivered_bytes_total", ["guest": web, "spec": "8080:80/tcp"]) == 0)
        #expect(value("libvirt_portfwd_forward_packets_total", ["guest": web, "spec": "5353:53/udp", "target": "192.168.122.10:53"]) == 0)
        #expect(value("libvirt_portfwd_pending_guests") == 1)
        #expect(value("libvirt_portfwd_pending_forwards", ["guest": "db"]) == 1)
        #expect(value("libvirt_portfwd_service_running") == 0)
        #expect(value("libvirt_portfwd_repairs_total") == nil, "only a running service has repairs to tell")
        #expect(parsed.filter { $0.name == "libvirt_portfwd_forward_packets_total" }.count == 3)
    }

    @Test(.enabled(if: PrometheusParser.installed || Privilege.required, "needs python3-prometheus-client (make test-deps)"),
          arguments: ["plain", "quote\"d", "back\\slash", "line\nfeed", "\\\"\\n", "ünï{c}=,"])
    func labelValuesSurviveTheParser(value: String) throws {
        let line = "m{l=\"\(PrometheusText.escaped(value))\"} 1\n"
        let parsed = try PrometheusParser.parse("# TYPE m gauge\n" + line)
        #expect(parsed.first?.labels["l"] == value)
    }
}

/// `status --all` shows every configured guest, as `virsh list --all` shows every domain: the
/// ones that do not run are listed with their forwards and change nothing of the health.
@Suite struct StatusAllTests {
    @Test func configuredGuestsThatDoNotRunAreShownWithAll() throws {
        let host = FakeHost()
        let config = PrometheusTests.config + """
            [[guest]]
            uuid = "00000000-0000-0000-0000-0000000000aa"
            forwards = ["7000"]

            """
        try host.store.save(RunningGuest(uuid: try DomainUUID(Fixtures.web1UUID), name: try GuestName("we\"b\\1 {x}"),
            address4: IPAddress("192.168.122.10")))
        _ = try host.reconciler(config).reconcile(.reapply)
        let plain = try host.reconciler(config).status()
        #expect(plain.notRunning.isEmpty)
        let all = try host.reconciler(config).status(showAll: true)
        #expect(all.notRunning.map(\.guest) == ["db", "00000000-0000-0000-0000-0000000000aa"])
        #expect(all.notRunning.first?.forwards == ["5432:5432/tcp"])
        #expect(all.healthy == plain.healthy && all.problems == plain.problems)
        #expect(all.table.contains("db") && all.table.contains("not running"))
        #expect(!plain.table.contains("not running"))
        // The service's absence is said, as a warning.
        #expect(all.warnings.contains { $0.hasPrefix("the libvirt-portfwd service is not running") })
    }
}

/// Every series once: node_exporter drops a whole file that names one series twice. Property:
/// whatever records exist (several of one name, as when a domain is undefined and defined anew
/// while its old record waits out its grace; pending, refused, clashing), no sample repeats.
@Suite struct PrometheusSeriesTests {
    @Test func noSeriesIsWrittenTwice() throws {
        var rng = SplitMix.printed("PrometheusTests.noSeriesIsWrittenTwice")
        let config = """
            [settings]
            metadata-host-ports = ["1024-65535"]
            [[guest]]
            name = "web"
            forwards = ["8080:80"]

            """
        for round in 0..<40 {
            let host = FakeHost()
            for i in 0..<Int.random(in: 2...5, using: &rng) {
                let uuid = try DomainUUID(String(format: "00000000-0000-4000-8000-%012d", round * 10 + i))
                let name = try GuestName(["web", "db"].randomElement(using: &rng)!)
                let address = Bool.random(using: &rng) ? IPAddress("192.168.122.\(10 + Int.random(in: 0...2, using: &rng))") : nil
                let specs = (0..<Int.random(in: 0...2, using: &rng)).map { _ in "\(Int.random(in: 9000...9003, using: &rng)):80" }
                let forwards = specs.map { Forward(spec: try! PortSpec.parse($0), origin: .metadata) }
                try host.store.save(RunningGuest(uuid: uuid, name: name, address4: address, addressSource: address == nil ? .pending : .explicit,
                                                 metadata: RunningGuest.Metadata(forwards: forwards, address4: address)))
            }
            _ = try host.reconciler(config).reconcile(.reapply)
            let text = PrometheusText(try host.reconciler(config).status()).text
            let series = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ").dropLast().joined(separator: " ") }
            #expect(Set(series).count == series.count, "a series twice in:\n\(text)")
        }
    }
}

/// Forwards the plan leaves out are listed, in the table, in JSON and in Prometheus by reason;
/// the admin's own mistake (two config forwards on one port) pages, what a policy leaves out by
/// design only informs.
@Suite struct LeftOutStatusTests {
    @Test func aConfigClashPagesAndAPolicyRefusalInforms() throws {
        let host = FakeHost()
        let config = """
            [settings]
            metadata-host-ports = ["9000-9999"]
            [[guest]]
            name = "a"
            address = "192.168.122.10"
            forwards = ["8080:80"]
            [[guest]]
            name = "b"
            address = "192.168.122.11"
            forwards = ["8080:80"]

            """
        let a = try DomainUUID("00000000-0000-4000-8000-00000000000a"), b = try DomainUUID("00000000-0000-4000-8000-00000000000b")
        let c = try DomainUUID("00000000-0000-4000-8000-00000000000c")
        try host.store.save(RunningGuest(uuid: a, name: try GuestName("a"), address4: IPAddress("192.168.122.10")))
        try host.store.save(RunningGuest(uuid: b, name: try GuestName("b"), address4: IPAddress("192.168.122.11")))
        try host.store.save(RunningGuest(uuid: c, name: try GuestName("c"), address4: IPAddress("192.168.122.12"),
                                         metadata: RunningGuest.Metadata(forwards: [Forward(spec: try PortSpec.parse("443"), origin: .metadata)],
                                                                         address4: IPAddress("192.168.122.12"))))
        _ = try host.reconciler(config).reconcile(.reapply)
        let report = try host.reconciler(config).status()
        #expect(Set(report.leftOut.map { "\($0.guest) \($0.spec) \($0.reason) \($0.pages)" })
                == ["a 8080:80/tcp config-conflict true", "b 8080:80/tcp config-conflict true", "c 443:443/tcp policy false"])
        #expect(!report.healthy && report.problems.contains { $0.hasPrefix("conflict: tcp port 8080") }, "\(report.problems)")
        #expect(!report.problems.contains { $0.contains("443") }, "a policy refusal informs: \(report.problems)")
        #expect(report.table.contains("left out: policy") && report.table.contains("left out: config-conflict"))
        let text = PrometheusText(report).text
        #expect(text.contains("libvirt_portfwd_forwards_refused{guest=\"a\",uuid=\"\(a)\",reason=\"config-conflict\"} 1\n"), "\(text)")
        #expect(text.contains("libvirt_portfwd_forwards_refused{guest=\"c\",uuid=\"\(c)\",reason=\"policy\"} 1\n"))
        #expect(text.contains("libvirt_portfwd_healthy 0\n"))
    }
}
