// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for every parser of untrusted input, built with `make fuzz` (never by the
// root package's own build). libFuzzer brings its own main, so each target is a library-style
// file exporting LLVMFuzzerTestOneInput.
let fuzzFlags: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]
let package = Package(
    name: "libvirt-portfwd-fuzz",
    dependencies: [.package(name: "libvirt-portfwd", path: "..")],
    targets: ["PortSpec", "Netlink", "Leases", "Domain", "Config", "TOML", "JSON", "Bundle", "Network", "Rules", "XML", "SetElements"].map { name in
        .executableTarget(name: "Fuzz\(name)", dependencies: [.product(name: "PortFwd", package: "libvirt-portfwd")], swiftSettings: fuzzFlags)
    },
    swiftLanguageModes: [.v6]
)
