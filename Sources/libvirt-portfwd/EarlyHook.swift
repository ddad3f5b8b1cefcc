import Foundation
import PortFwd

/// `hook qemu` for a guest without forwards, answered before the argument parser runs.
/// libvirtd waits for the hook five times per guest lifecycle and most guests have no
/// forwards, so this path is most of the tool's calls. Building ArgumentParser's command tree
/// alone costs several milliseconds of runtime type lookups in a static binary, more than the
/// triage itself; this reads only the shape the installed shims and libvirtd produce, and any
/// other shape goes to the full parser, which handles it the same way, only slower.
enum EarlyHook {
    /// The options `hook qemu` takes that carry a value.
    static let valued: Set<String> = ["--config", "--state-dir", "--libvirt-root", "--backend", "--iptables"]

    /// True when `arguments` (without argv[0]) are a `hook qemu` event that needs nothing done.
    static func isNoOp(_ arguments: [String]) -> Bool {
        guard arguments.count >= 2, arguments[0] == "hook", arguments[1] == "qemu" else { return false }
        var options: [String: String] = [:]
        var rest = arguments.dropFirst(2)
        var separated = false
        while let word = rest.first, word.hasPrefix("-"), word != "-" {
            rest = rest.dropFirst()
            if word == "--" { separated = true; break }
            if let eq = word.firstIndex(of: "="), valued.contains(String(word[..<eq])) {
                options[String(word[..<eq])] = String(word[word.index(after: eq)...])
            } else if valued.contains(word), let value = rest.first {
                options[word] = value
                rest = rest.dropFirst()
            } else {
                return false    // --help, --version, a typo: the parser's business
            }
        }
        let positional = Array(rest)
        // Without "--", the parser would take a later "--config" for an option: leave it that.
        guard positional.count >= 3, separated || !positional.contains(where: { $0.hasPrefix("-") && $0 != "-" }) else { return false }
        let input = HookInput(configPath: Locations.config(option: options["--config"]).path,
                              store: StateStore(directory: Locations.stateDirectory(option: options["--state-dir"])))
        return input.isNoOp(guest: positional[0], operation: positional[1])
    }
}
