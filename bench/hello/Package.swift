// swift-tools-version:6.0
// A Foundation hello-world, built like the tool, as the floor for process start-up.
import PackageDescription

let package = Package(name: "hello", targets: [.executableTarget(name: "hello")])
