// What every file of this target shares: TestSupport, and the shell, the isolated network and
// `Fixtures.plan` (SystemTestSupport).
@_exported import SystemTestSupport
