import Foundation
import PortFwdCore

/// prometheus_client's text parser (python3-prometheus-client), reading `status --prometheus`
/// as Prometheus would: for the unit tests of the text and the labs' end-to-end ones alike.
public enum PrometheusParser {
    public static let installed = Shell.capture("/usr/bin/python3 -c 'import prometheus_client'").status == 0

    public struct Sample: Decodable, Sendable {
        public let name: String
        public let labels: [String: String]
        public let value: Double
    }

    /// Samples as prometheus_client's parser reads them; a failure where the package is missing
    /// (the tests that call this run without it only under `make test`).
    public static func parse(_ text: String) throws -> [Sample] {
        let dir = TempDir()
        dir.write("metrics.prom", text)
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = []
            for family in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()):
                for s in family.samples:
                    out.append({"name": s.name, "labels": s.labels, "value": s.value})
            print(json.dumps(out))
            """
        dir.write("parse.py", script)
        guard installed else {
            throw PortFwdError(.unavailable, "python3-prometheus-client is not installed (make test-deps): the metrics went unparsed")
        }
        let out = try Shell.run("/usr/bin/python3 \(dir.path)/parse.py \(dir.path)/metrics.prom")
        return try JSONDecoder().decode([Sample].self, from: Data(out.utf8))
    }
}
