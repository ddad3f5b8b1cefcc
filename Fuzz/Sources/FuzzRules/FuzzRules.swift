import PortFwdCore

/// What an install learnt of its rules, read back from the state directory (`RuleContents`):
/// it reads whole or not at all, and what reads writes back the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let contents = RuleContents(text: text) {
        precondition(RuleContents(text: contents.text) == contents, "rule contents that do not round-trip")
    }
    return 0
}
