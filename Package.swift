// swift-tools-version:6.0
import Foundation
import PackageDescription

// A member is visible only where its module is imported: no Foundation method can creep in
// through another module's `import Foundation` and pull ICU into the binary
// (scripts/check-lean fails the build's test if it does).
let lean: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

// `make` passes the commit being built; `libvirt-portfwd --version` shows it.
let commitDigits = (ProcessInfo.processInfo.environment["LIBVIRT_PORTFWD_COMMIT"] ?? "").filter(\.isHexDigit).prefix(40)
let commit = commitDigits.isEmpty ? "unknown" : String(commitDigits)

// Layers, each a target, so the compiler refuses a call that skips one:
//   PortFwdReaders the TOML and JSON readers: bytes in, values or one error line out.
//   PortFwdCore    model, config parsing, policy, plan, render: pure values, no I/O.
//   PortFwdSystem  the seams to the system: libnftables, processes, files, the state store,
//                  libvirt's files, syslog, netlink and inotify.
//   PortFwd        the backends, admission, the reconcile transaction, the hooks, the service.
//   libvirt-portfwd  a thin command line over PortFwd.
let package = Package(
    name: "libvirt-portfwd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "libvirt-portfwd", targets: ["libvirt-portfwd"]),
        .library(name: "PortFwd", targets: ["PortFwd"]),
    ],
    // No dependencies: the config's TOML is read by PortFwdCore's own TOML reader.
    targets: [
        // libnftables' API typed from its own header (libnftables-dev), loaded with dlopen on
        // first use: hook calls that change nothing never load it.
        .target(name: "CNftables"),
        // libxml2's SAX2 parser, likewise loaded on first use. Its headers live in
        // /usr/include/libxml2; `system/libxml2` points there. A pkg-config system library
        // would add -lxml2 to the link and load libxml2 (and ICU) into every hook call.
        .target(name: "CXMLShim", cSettings: [.headerSearchPath("system/libxml2")]),
        // signalfd, inotify and netfilter's netlink constants from the kernel's headers.
        .systemLibrary(name: "CLinux"),
        .target(name: "CBuildInfo", cSettings: [.define("PF_COMMIT", to: "\"\(commit)\"")]),
        // The hook's triage (which events concern no forward), in C so that one copy serves both
        // the Swift hook and the front door; pure functions on bytes.
        .target(name: "CHookTriage"),
        // The front door: a constructor in the binary that answers the hook's certain no-ops
        // before the Swift runtime starts, with CHookTriage, and hands stdin to the Swift hook
        // when it declines.
        .target(name: "CFrontDoor", dependencies: ["CHookTriage"]),
        // The readers of the two formats others write to us, TOML (the config) and JSON
        // (libnftables' listings, libvirt's lease files): bounded, and tested on their own.
        .target(name: "PortFwdReaders", swiftSettings: lean),
        .target(name: "PortFwdCore", dependencies: ["PortFwdReaders", "CHookTriage"], swiftSettings: lean),
        .target(
            name: "PortFwdSystem",
            dependencies: ["PortFwdReaders", "PortFwdCore", "CNftables", "CXMLShim", "CLinux"],
            swiftSettings: lean
        ),
        .target(
            name: "PortFwd",
            dependencies: ["PortFwdCore", "PortFwdSystem", "CHookTriage"],
            swiftSettings: lean
        ),
        // The CLI declares every layer it imports, so the compiler holds it to them: it
        // reaches the C modules only through the layers.
        .executableTarget(
            name: "libvirt-portfwd",
            dependencies: ["PortFwd", "PortFwdCore", "PortFwdSystem", "CBuildInfo", "CFrontDoor"],
            swiftSettings: lean
        ),
        // Tests per layer, as the sources are: a test target depends on the layer it tests and
        // its support, so a test of a lower layer cannot quietly lean on a higher one.
        // What every test target shares: seeds, `expectError`, hostile shapes for the readers,
        // fixtures' texts, temporary directories, the repository's paths. No dependencies, so
        // the readers' tests stay apart from the rest.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // The shell, namespaces, the labs and the watch process (Spawn is PortFwdSystem's), the
        // Prometheus parser, and `Fixtures.plan`.
        .target(
            name: "SystemTestSupport",
            dependencies: ["PortFwdCore", "PortFwdSystem", "TestSupport"],
            path: "Tests/SystemTestSupport"
        ),
        // The fakes of the kernel and the host that the backends and the reconciler run against.
        // Built only with the tests, in debug, where its one `@testable import` is allowed.
        .target(
            name: "PortFwdTestSupport",
            dependencies: ["PortFwdCore", "PortFwdSystem", "PortFwd", "SystemTestSupport"],
            path: "Tests/PortFwdTestSupport"
        ),
        .testTarget(
            name: "PortFwdReadersTests",
            dependencies: ["PortFwdReaders", "TestSupport"]
        ),
        .testTarget(
            name: "PortFwdCoreTests",
            dependencies: ["PortFwdReaders", "PortFwdCore", "TestSupport"]
        ),
        .testTarget(
            name: "PortFwdSystemTests",
            dependencies: ["PortFwdCore", "PortFwdSystem", "SystemTestSupport"]
        ),
        .testTarget(
            name: "PortFwdTests",
            dependencies: ["PortFwdCore", "PortFwdSystem", "PortFwd", "PortFwdTestSupport"]
        ),
        // Tests that run the built binary: depending on it has it built with the tests.
        .testTarget(
            name: "CLITests",
            dependencies: ["PortFwdCore", "PortFwdSystem", "PortFwd", "libvirt-portfwd", "PortFwdTestSupport", "CFrontDoor"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
