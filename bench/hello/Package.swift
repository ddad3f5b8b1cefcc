// swift-tools-version:6.0
// Hello-worlds built like the tool, as the floor for process start-up: one on Foundation, one on
// FoundationEssentials alone (what the tool imports); and the floor under the service's idle RSS.
import PackageDescription

let package = Package(name: "hello", targets: [
    .executableTarget(name: "hello"),
    .executableTarget(name: "hello-essentials"),
    .executableTarget(name: "library-floor"),
])
