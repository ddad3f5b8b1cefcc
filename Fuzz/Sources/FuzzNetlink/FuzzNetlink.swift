import PortFwdSystem

/// netfilter's notification messages, as a process with CAP_NET_ADMIN could forge them (the
/// socket drops those; the parser must hold anyway).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var parser = NetfilterMessages()
    for commit in parser.parse(ArraySlice(UnsafeBufferPointer(start: data, count: size))) {
        precondition(commit.process.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f }, "a process name reaches log lines")
    }
    return 0
}
