import Foundation
import Testing

/// The service for months, compressed into two minutes (bench/soak.py): an unrelated nftables
/// commit flood, lease rewrites at 200 a second, guests starting and stopping, flushes. It fails
/// when the service's RSS grows by more than 2 MB between the end of its warm-up and the end of
/// the run, when it dies, or when it stops following. `make bench` runs the long version.
@Suite(.privileged) struct RootSoakTests {
    @Test func theServiceKeepsItsMemoryUnderMixedEvents() throws {
        let out = TempDir()
        let r = Shell.capture("python3 \(Paths.root)/bench/soak.py \(Paths.binary) 120 \(out.path)")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let figures = Dictionary(uniqueKeysWithValues: r.stdout.split(separator: " ").compactMap { pair -> (String, String)? in
            let parts = pair.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1]).trimmingCharacters(in: .whitespacesAndNewlines)) : nil
        })
        #expect(Int(figures["soak_leases"] ?? "0") ?? 0 > 10_000, "\(r.stdout)")
        #expect(Int(figures["soak_rss_growth_kib"] ?? "99999") ?? 99999 <= 2048, "\(r.stdout)")
    }
}
