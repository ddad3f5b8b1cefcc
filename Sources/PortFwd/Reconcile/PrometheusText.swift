import PortFwdCore

/// A status in the Prometheus text exposition format, for node_exporter's textfile collector:
/// health, per-forward traffic, pending guests and the service's repairs. Values are only
/// those the report holds; a forward without a counter (nothing installed) has no sample.
public struct PrometheusText: Sendable {
    public let report: StatusReport

    public init(_ report: StatusReport) { self.report = report }

    public var text: String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: String)]) {
            out += "# HELP libvirt_portfwd_\(name) \(help)\n# TYPE libvirt_portfwd_\(name) \(type)\n"
            for sample in samples {
                let labels = sample.labels.isEmpty ? "" : "{" + sample.labels.map { "\($0.0)=\"\(Self.escaped($0.1))\"" }.joined(separator: ",") + "}"
                out += "libvirt_portfwd_\(name)\(labels) \(sample.value)\n"
            }
        }
        let r = report
        family("healthy", "gauge", "1 when the kernel holds the plan and nothing is stale, pending, turned away or undelivered (status exits 0).",
               [([], r.healthy ? "1" : "0")])
        family("problems", "gauge", "Problems status reports, one per line on its standard error.", [([], "\(r.problems.count)")])
        family("installed", "gauge", "1 when the rules are installed.", [([], r.installed ? "1" : "0")])
        family("forwards", "gauge", "Forwards installed.", [([], "\(r.forwards.count)")])
        let rows = r.forwards.filter { $0.packets != nil }
        // A series per forward of a guest, by UUID: two domains of one name (one undefined and
        // defined anew while its record waits out its grace) are two series, never one twice.
        func labels(_ row: StatusReport.Row) -> [(String, String)] {
            [("guest", row.guest), ("uuid", row.uuid ?? ""), ("family", row.family),
             ("spec", row.spec), ("target", row.target), ("origin", row.origin)]
        }
        family("forward_packets_total", "counter",
               "Packets of a forward's connections, both directions, as they entered the forward path after DNAT. Carried across table swaps.",
               rows.map { (labels($0), "\($0.packets!)") })
        family("forward_bytes_total", "counter",
               "Bytes of a forward's connections, both directions, as they entered the forward path after DNAT. Carried across table swaps.",
               rows.map { (labels($0), "\($0.bytes!)") })
        let delivered = rows.filter { $0.deliveredPackets != nil }
        family("forward_delivered_packets_total", "counter",
               "Packets of a forward's connections that left the forward path past every other firewall; "
                   + "fewer than forward_packets_total means something between drops them.",
               delivered.map { (labels($0), "\($0.deliveredPackets!)") })
        family("forward_delivered_bytes_total", "counter",
               "Bytes of a forward's connections that left the forward path past every other firewall.",
               delivered.map { (labels($0), "\($0.deliveredBytes!)") })
        // Refused: left out by the plan (by reason), or turned away by another firewall.
        var refused: [[String]: Int] = [:]
        for r in r.leftOut { refused[[r.guest, r.uuid ?? "", r.reason], default: 0] += 1 }
        for row in r.forwards where !row.turnedAwayBy.isEmpty { refused[[row.guest, row.uuid ?? "", "turned-away"], default: 0] += 1 }
        family("forwards_refused", "gauge",
               "Forwards of running guests that do not work: left out by the plan "
                   + "(reason policy, host-service, port-taken, config-conflict, isolated, family) "
                   + "or turned away by another firewall's chain (turned-away).",
               refused.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { k in
                   ([("guest", k[0]), ("uuid", k[1]), ("reason", k[2])], "\(refused[k]!)")
               })
        family("pending_guests", "gauge", "Running guests whose forwards wait, for an address or a free port.", [([], "\(r.pending.count)")])
        family("pending_forwards", "gauge", "Forwards that wait, per guest.",
               r.pending.map { ([("guest", $0.guest), ("uuid", $0.uuid ?? ""), ("reason", $0.reason)], "\($0.forwards.count)") })
        family("service_running", "gauge", "1 when the libvirt-portfwd watch service runs.", [([], r.service.running ? "1" : "0")])
        if let repairs = r.service.repairs {
            family("repairs_total", "counter", "Repairs of other programs' changes by the watch service since it started.", [([], "\(repairs)")])
        }
        return out
    }

    /// A label value: backslash, double quote and line feed escaped, as the format requires.
    static func escaped(_ value: String) -> String {
        var out = ""
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
