// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "libvirt-portfwd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "libvirt-portfwd", targets: ["libvirt-portfwd"]),
        .library(name: "PortFwd", targets: ["PortFwd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // libxml2's SAX2 parser through dlopen (see xmlshim.h); its headers are needed to build.
        .target(
            name: "CXMLShim",
            cSettings: [.unsafeFlags(["-I/usr/include/libxml2"])]
        ),
        .target(
            name: "PortFwd",
            dependencies: ["CXMLShim", .product(name: "TOMLKit", package: "TOMLKit")]
        ),
        .executableTarget(
            name: "libvirt-portfwd",
            dependencies: ["PortFwd"]
        ),
        .testTarget(
            name: "PortFwdTests",
            dependencies: ["PortFwd"],
            resources: []
        ),
    ],
    swiftLanguageModes: [.v6]
)
