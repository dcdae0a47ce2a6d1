// swift-tools-version: 6.1
import PackageDescription

// Module map (arrows point one way):
//
//   HSNNSupport (duration conversions, string escaping, dedicated threads): used by every module
//   COpenBLAS ─ HSNNMath ─┐   (tensors, layers, losses; BLAS/: the OpenBLAS bridge + kernel selection)
//   HSNNEvents, HSNNMath ─ HSNNSynth (synthetic stream)
//   Safetensors ──────────┼─ HSNNModel ─┐
//   HSNNEvents ─ HSNNStream (joiner) ────┤
//   CRdkafka ─ HSNNKafka ────────────────┤
//   Safetensors ─ HSNNCheckpoint ────────┼─ HSNNDaemon ─ HSNNBench ─ hsnn (CLI)
//   HSNNOps (config, HTTP, systemd) ─────┘
//   HeapModule (swift-collections): the joiner's deadlines, the synthetic stream's clicks, retrieval's top-K
//
//   HSNNBench holds every benchmark (decode, model, publish, sgemm, end to end) and its report;
//   it depends on the modules it measures. The CLI's `hsnn bench` commands only print its results.

let package = Package(
    name: "hsnn",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hsnn", targets: ["hsnn"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // C libraries from Debian (librdkafka-dev, libopenblas-dev).
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CRdkafka", path: "Sources/CRdkafka", pkgConfig: "rdkafka",
                       providers: [.apt(["librdkafka-dev"])]),

        .target(name: "HSNNSupport"),
        .target(name: "HSNNMath", dependencies: ["COpenBLAS"]),
        .target(name: "Safetensors", dependencies: ["HSNNSupport"]),
        .target(name: "HSNNEvents"),
        .target(name: "HSNNSynth", dependencies: [
            "HSNNEvents", "HSNNMath", .product(name: "HeapModule", package: "swift-collections"),
        ]),
        .target(name: "HSNNModel", dependencies: [
            "HSNNMath", "HSNNEvents", "Safetensors", "HSNNSupport",
            .product(name: "HeapModule", package: "swift-collections"),
        ]),
        .target(name: "HSNNStream", dependencies: [
            "HSNNEvents", .product(name: "HeapModule", package: "swift-collections"),
        ]),
        .target(name: "HSNNKafka", dependencies: [
            "CRdkafka", "HSNNSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HSNNCheckpoint", dependencies: [
            "Safetensors", "HSNNSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HSNNOps", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        .target(name: "HSNNDaemon", dependencies: [
            "HSNNModel", "HSNNStream", "HSNNKafka", "HSNNCheckpoint", "HSNNOps", "HSNNSynth",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "HSNNBench", dependencies: [
            "HSNNDaemon", "HSNNModel", "HSNNEvents", "HSNNStream", "HSNNSynth", "HSNNKafka", "HSNNCheckpoint", "HSNNOps",
            "HSNNMath", "Safetensors", "HSNNSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "hsnn", dependencies: [
            "HSNNDaemon", "HSNNBench", "HSNNMath", "HSNNSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // Tests: unit targets run in parallel; IntegrationTests (Kafka clusters, daemon processes,
        // Python, tmpfs mounts) run serially. HSNNTestSupport holds what several of them share.
        .target(name: "HSNNTestSupport", dependencies: [
            "HSNNCheckpoint", "Safetensors",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "InMemoryLogging", package: "swift-log"),
        ], path: "Tests/HSNNTestSupport"),
        .testTarget(name: "IntegrationTests", dependencies: [
            "HSNNKafka", "HSNNCheckpoint", "Safetensors", "HSNNSupport", "HSNNTestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "InMemoryLogging", package: "swift-log"),
        ]),
        .testTarget(name: "HSNNMathTests", dependencies: ["HSNNMath"]),
        .testTarget(name: "HSNNModelTests", dependencies: ["HSNNModel", "HSNNSynth"]),
        .testTarget(name: "HSNNEventsTests", dependencies: ["HSNNEvents", "HSNNSynth", "HSNNMath"]),
        .testTarget(name: "HSNNStreamTests", dependencies: ["HSNNStream"]),
        .testTarget(name: "HSNNSynthTests", dependencies: ["HSNNSynth"]),
        .testTarget(name: "HSNNCheckpointTests", dependencies: [
            "HSNNCheckpoint", "Safetensors", "HSNNTestSupport", .product(name: "InMemoryLogging", package: "swift-log"),
        ]),
        .testTarget(name: "HSNNOpsTests", dependencies: ["HSNNOps"]),
        .testTarget(name: "HSNNDaemonTests", dependencies: ["HSNNDaemon"]),
        .testTarget(name: "hsnnTests", dependencies: [
            "hsnn", "HSNNCheckpoint", "Safetensors", "HSNNTestSupport",
            .product(name: "Logging", package: "swift-log"), .product(name: "InMemoryLogging", package: "swift-log"),
        ]),
        .testTarget(name: "HSNNBenchTests", dependencies: [
            "HSNNBench", "HSNNTestSupport", .product(name: "Logging", package: "swift-log"), .product(name: "InMemoryLogging", package: "swift-log"),
        ]),
    ]
)

// Settings shared by every Swift target.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // Bounds and overflow checks are compiled out only in the numeric modules, which read no
    // untrusted input (HSNNMath's kernel selection reads only the CPU's identification and the
    // process's own environment); the event parser, the checkpoint reader, the Kafka bridge and the daemon
    // keep them (decode throughput with and without: docs/operations.md, "Build flags").
    if ["HSNNMath", "HSNNModel"].contains(target.name) {
        settings.append(.unsafeFlags(["-Ounchecked"], .when(configuration: .release)))
    }
    // Numeric code is optimised in debug builds too, so tests that train models run in seconds.
    if ["HSNNMath", "HSNNModel", "HSNNEvents", "HSNNSynth"].contains(target.name) {
        settings.append(.unsafeFlags(["-O"], .when(configuration: .debug)))
    }
    target.swiftSettings = settings
}
