import Foundation
@testable import PortFwd
import PortFwdCore
@testable import PortFwdSystem

/// One of the service's event sources, faked: what a test posts is queued and the source's
/// descriptor (a pipe's end) becomes readable, so the service's poll(2) wakes as it would for the kernel.
public class FakeEventSource<Event>: @unchecked Sendable {
    public let fd: Int32
    private let writer: Int32
    private let lock = NSLock()
    private var queued: [Event] = []

    public init() {
        var ends: [Int32] = [0, 0]
        precondition(pipe(&ends) == 0)
        (fd, writer) = (ends[0], ends[1])
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
    }

    deinit {
        close(fd)
        close(writer)
    }

    public func post(_ events: Event...) {
        lock.withLock { queued += events }
        var one: UInt8 = 1
        _ = write(writer, &one, 1)
    }

    public func take() -> [Event] {
        var bytes = [UInt8](repeating: 0, count: 256)
        while read(fd, &bytes, bytes.count) > 0 {}
        return lock.withLock {
            defer { queued = [] }
            return queued
        }
    }
}

public final class FakeFirewallEvents: FakeEventSource<NetfilterMessages.Commit>, FirewallEventSource, @unchecked Sendable {
    /// A commit by another process that touched one of the tables our forwards depend on.
    public func commit(by process: String = "nft", pid: Int32 = 4242) { post(NetfilterMessages.Commit(pid: pid, process: process, relevant: true)) }
    public func drain() -> (commits: [NetfilterMessages.Commit], overrun: Bool, foreign: Int) { (take(), false, 0) }
}

public final class FakeDirectoryEvents: FakeEventSource<String>, DirectoryEventSource, @unchecked Sendable {
    public private(set) var watched: [String] = []
    public func watch(_ path: String) -> Bool { watched.append(path); return true }
    public func drain() -> Set<String> { Set(take()) }
}

public final class FakeSignals: FakeEventSource<Int32>, SignalSource, @unchecked Sendable {
    public func drain() -> [Int32] { take() }
}

public final class FakeNeighbourEvents: FakeEventSource<Neighbour>, NeighbourEventSource, @unchecked Sendable {
    public func drain() -> (entries: [Neighbour], overrun: Bool) { (take(), false) }
}

/// A monotonic clock that moves only when told.
public final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var seconds = 1000.0
    public init() {}
    public var now: Double { lock.withLock { seconds } }
    public func advance(_ by: Double) { lock.withLock { seconds += by } }
}

/// The fakes together, as `WatchSources`.
public struct FakeWatchSources {
    public let firewall = FakeFirewallEvents()
    public let directories = FakeDirectoryEvents()
    public let signals = FakeSignals()
    public let neighbours = FakeNeighbourEvents()

    public init() {}

    /// With `clock` the time moves only when the test says; without, it is the host's monotonic clock.
    public func sources(clock: FakeClock? = nil) -> WatchSources {
        var time: @Sendable () -> Double = WatchSources.monotonic
        if let clock { time = { clock.now } }
        return WatchSources(firewall: firewall, directories: directories, signals: signals, neighbours: neighbours,
                            clock: time, legacyTablesLoaded: { false })
    }
}
