import PortFwdCore
import PortFwdSystem

/// The kernel's answer to a dump of one of our count sets (`SetElementMessages`), as another
/// root program writing our set could shape its elements: the first byte picks the set's key
/// fields, the rest is datagrams of up to 4 KiB. Nothing crashes, nothing reads past what
/// arrived, and a key reads as values of its fields or as one unreadable value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let set = CountSet.all[Int(bytes[0]) % CountSet.all.count]
    var parser = SetElementMessages(key: set.key)
    var offset = 1
    while offset < bytes.count, !parser.done {
        let end = min(bytes.count, offset + 4096)
        _ = parser.take(bytes[offset..<end])
        offset = end
    }
    precondition(parser.elements.count <= size / 12, "an element takes 12 bytes at least")
    for element in parser.elements {
        if element.key.count == 1, case .unreadable = element.key[0] { continue }
        precondition(element.key.count == set.key.count, "a key of another shape than the set's")
        for (value, field) in zip(element.key, set.key) {
            switch (value, field) {
            case (.address(let a), .address(let family)): precondition(a.family == family, "an address of another family")
            case (.network(let n), .address(let family)): precondition(n.address.family == family, "a network of another family")
            case (.proto, .proto), (.ports, .service): break
            default: preconditionFailure("a value of another type than its field")
            }
        }
    }
    // And what a swap would carry from them.
    _ = NftTable(sets: [NftSet(name: set.name, key: set.key, counter: true, elements: parser.elements)]).counters
    return 0
}
