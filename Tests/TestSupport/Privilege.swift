import Foundation
import Testing

/// Privileged tests need CAP_NET_ADMIN (network namespaces, nftables). Plain `swift test`
/// elsewhere skips them; `make test` sets LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED=1 so they run,
/// and fail loudly instead of skipping when the capability is missing.
public enum Privilege {
    static let hasNetAdmin: Bool = {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let caps = UInt64(line.split(separator: "\t").last ?? "", radix: 16) else { return false }
        return caps & (1 << 12) != 0
    }()

    public static let required = ProcessInfo.processInfo.environment["LIBVIRT_PORTFWD_REQUIRE_PRIVILEGED"] == "1"

    /// The condition for `.enabled(if:)`.
    public static let enabled = hasNetAdmin || required
}

extension Trait where Self == ConditionTrait {
    /// Runs with CAP_NET_ADMIN (always under `make test`), skips elsewhere.
    public static var privileged: Self {
        .enabled(if: Privilege.enabled, "needs CAP_NET_ADMIN (run as root, or make test)")
    }
}
