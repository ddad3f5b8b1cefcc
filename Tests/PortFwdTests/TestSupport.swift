// What every file of this target shares: TestSupport, SystemTestSupport, and the fakes of the
// kernel and the host (PortFwdTestSupport).
@_exported import PortFwdTestSupport
import PortFwd

/// Ours, not Foundation's `Host`.
typealias Host = PortFwd.Host
