// swift-tools-version:6.1
// The peer for `scripts/bench rest`: Hummingbird's hello world, built in release in the same
// run, on the same machine: the framework's own floor for one request.
import PackageDescription

let package = Package(
    name: "HelloPeer",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(name: "hello-peer", dependencies: [.product(name: "Hummingbird", package: "hummingbird")]),
    ]
)
