import Foundation
import Testing

/// No line under Sources/ is wider than 150 characters (issue 28): a wide line is wrapped where it
/// is written, instead of piling up until someone wraps them all at once.
@Suite struct SourceWidthTests {
    static let limit = 150

    /// Files another branch was rewriting when the rest was wrapped. Each leaves this list once
    /// that branch is merged and its long lines are wrapped too.
    static let exceptions: Set<String> = [
        "Sources/PortFwdSystem/Libvirt/HostSockets.swift",
        "Sources/PortFwdSystem/Libvirt/Neighbours.swift",
        "Sources/PortFwdSystem/Events/NetlinkGroup.swift",
        "Sources/PortFwdSystem/Libvirt/LibvirtFiles.swift",
    ]
    static let exceptedDirectories: [String] = ["Sources/CLinux/"]

    static func excepted(_ path: String) -> Bool {
        exceptions.contains(path) || exceptedDirectories.contains { path.hasPrefix($0) }
    }

    /// Every file under Sources/, relative to the package root, sorted.
    static func sourceFiles() throws -> [String] {
        let sources = "\(Paths.root)/Sources"
        return try FileManager.default.subpathsOfDirectory(atPath: sources).filter { sub in
            var directory: ObjCBool = false
            return FileManager.default.fileExists(atPath: "\(sources)/\(sub)", isDirectory: &directory) && !directory.boolValue
        }.map { "Sources/\($0)" }.sorted()
    }

    /// `path:line: N characters` for each line of `text` wider than the limit. Characters, not
    /// bytes: a `…` is one column in an editor.
    static func wideLines(_ text: String, path: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            line.count > limit ? "\(path):\(index + 1): \(line.count) characters" : nil
        }
    }

    @Test func everySourceLineFitsTheWidth() throws {
        let files = try Self.sourceFiles()
        // The walk must have found the tree, or an empty list would pass.
        #expect(files.contains("Sources/PortFwdCore/Plan/Resolver.swift"), "Sources/ not found under \(Paths.root)")
        var wide: [String] = []
        for path in files where !Self.excepted(path) {
            let text = try String(contentsOfFile: "\(Paths.root)/\(path)", encoding: .utf8)
            wide += Self.wideLines(text, path: path)
        }
        #expect(wide.isEmpty, "wider than \(Self.limit) characters; wrap them:\n\(wide.joined(separator: "\n"))")
    }

    /// An exception for a file that is gone (renamed, merged away) would excuse nothing and only
    /// hide that the list is stale.
    @Test func everyExceptionNamesAFile() throws {
        let files = Set(try Self.sourceFiles())
        for path in Self.exceptions.sorted() { #expect(files.contains(path), "\(path) is excepted but does not exist") }
        for directory in Self.exceptedDirectories {
            #expect(files.contains { $0.hasPrefix(directory) }, "\(directory) is excepted but holds no file")
        }
    }

    @Test func theCheckCountsCharactersAndNamesTheLine() {
        let fits = String(repeating: "x", count: Self.limit)
        let wider = String(repeating: "…", count: Self.limit + 1)
        #expect(Self.wideLines("\(fits)\n\(wider)\n\(fits)", path: "Sources/A.swift") == ["Sources/A.swift:2: 151 characters"])
        // 150 `…` are 450 bytes and still fit.
        #expect(Self.wideLines(String(repeating: "…", count: Self.limit), path: "Sources/A.swift").isEmpty)
    }
}
