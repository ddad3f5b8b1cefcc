import PortFwdCore
import PortFwdReaders

/// The TOML reader alone, below the config's schema: any text ends in a table or in one line
/// naming a line and column inside the text, and never nests past the limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let table = try TOML.parse(text)
        precondition(depth(of: table) <= TOML.maximumDepth, "a document nested past the limit was read")
    } catch {
        let lines = text.utf8.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
        precondition(error.line >= 1 && error.line <= lines && error.column >= 1, "a failure outside the text")
        precondition(!error.reason.contains("\n") && error.reason.utf8.count <= 300, "a failure of more than one short line")
    }
    return 0
}

func depth(of table: TOML.Table) -> Int { table.keys.map { depth(of: table[$0]!) }.max() ?? 0 }

func depth(of value: TOML.Value) -> Int {
    switch value.kind {
    case .array(let items): return 1 + (items.map(depth(of:)).max() ?? 0)
    case .table(let table): return 1 + depth(of: table)
    default: return 0
    }
}
