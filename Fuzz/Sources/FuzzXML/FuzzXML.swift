import PortFwdCore
import PortFwdSystem

/// The two XML readers, differentially: whatever `XMLReader` reads without libxml2, libxml2
/// reads too, into the same tree. A document the reader gives way on is libxml2's alone, and
/// the Domain and Network targets cover that path.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let read = XMLParser.readWithoutLibxml2(bytes) else { return 0 }
    let parsed: XMLNode
    do {
        parsed = try XMLParser.parseThroughLibxml2(bytes)
    } catch {
        preconditionFailure("the reader read a document libxml2 refuses: \(error.message)")
    }
    precondition(parsed == read, "the reader's tree differs from libxml2's")
    return 0
}
