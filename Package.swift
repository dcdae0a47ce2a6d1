// swift-tools-version: 6.1
import PackageDescription

// Module map (arrows point one way):
//
//   COpenBLAS ─ HSNNMath ─┐
//   HSNNEvents ───────────┤
//   Safetensors ──────────┼─ HSNNModel ─────────────────┐
//   HSNNEvents ─ HSNNPipeline (joiner, ordered batching) ┤
//   CRdkafka ─ HSNNKafka ───────────────────────────────┤
//   Safetensors ─ HSNNCheckpoint ───────────────────────┼─ HSNNDaemon ─ hsnn (CLI)
//   HSNNOps (config engine, HTTP, logging, systemd) ────┤
//   COpenBLAS ─ BLASRuntime (kernel selection) ─────────┘
//   HSNNEvents ─ HSNNSynth (the synthetic stream; used by the CLI)
//
// HSNNDaemon: Ingest/ (Kafka poller, queue, decoding, dead letters), Training/ (the stream
// training service, the trainer thread, the learner), Checkpointing/, Rebalance/, Settings/
// (the daemon's configuration schema and settings), Metrics.swift, DaemonRuntime.swift
// (the composition root `hsnn run` calls). The CLI also uses the lower modules directly
// (train, eval, synth, produce, checkpoint, bench).

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
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C libraries from Debian (librdkafka-dev, libopenblas-dev).
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CRdkafka", path: "Sources/CRdkafka", pkgConfig: "rdkafka",
                       providers: [.apt(["librdkafka-dev"])]),

        .target(name: "HSNNMath", dependencies: ["COpenBLAS"]),
        .target(name: "BLASRuntime", dependencies: ["COpenBLAS"]),
        .target(name: "Safetensors"),
        .target(name: "HSNNEvents"),
        .target(name: "HSNNSynth", dependencies: ["HSNNEvents"]),
        .target(name: "HSNNModel", dependencies: ["HSNNMath", "HSNNEvents", "Safetensors"]),
        .target(name: "HSNNPipeline", dependencies: ["HSNNEvents"]),
        .target(name: "HSNNKafka", dependencies: [
            "CRdkafka",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HSNNCheckpoint", dependencies: [
            "Safetensors",
            "HSNNMath",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HSNNOps", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        .target(name: "HSNNDaemon", dependencies: [
            "HSNNEvents", "HSNNModel", "HSNNPipeline", "HSNNKafka", "HSNNCheckpoint", "HSNNOps", "BLASRuntime",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "hsnn", dependencies: [
            "HSNNDaemon", "BLASRuntime", "HSNNCheckpoint", "HSNNEvents", "HSNNKafka", "HSNNModel", "HSNNOps",
            "HSNNPipeline", "HSNNSynth",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .testTarget(name: "BLASRuntimeTests", dependencies: ["BLASRuntime"]),
        .testTarget(name: "HSNNMathTests", dependencies: ["HSNNMath"]),
        .testTarget(name: "HSNNModelTests", dependencies: ["HSNNModel", "HSNNSynth"]),
        .testTarget(name: "HSNNEventsTests", dependencies: ["HSNNEvents", "HSNNSynth"]),
        .testTarget(name: "HSNNPipelineTests", dependencies: ["HSNNPipeline", "HSNNEvents"]),
        .testTarget(name: "HSNNSynthTests", dependencies: ["HSNNSynth"]),
        .testTarget(name: "HSNNKafkaTests", dependencies: [
            "HSNNKafka", .product(name: "InMemoryLogging", package: "swift-log"),
        ]),
        .testTarget(name: "HSNNCheckpointTests", dependencies: [
            "HSNNCheckpoint", "Safetensors", .product(name: "InMemoryLogging", package: "swift-log"),
        ]),
        .testTarget(name: "HSNNOpsTests", dependencies: [
            "HSNNOps",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "HSNNDaemonTests", dependencies: [
            "HSNNDaemon", "HSNNCheckpoint", "HSNNEvents", "HSNNKafka", "HSNNModel", "HSNNOps", "HSNNPipeline",
            "Safetensors",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
    ]
)

// Settings shared by every Swift target.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    // Bounds and overflow checks are compiled out only in the numeric kernels, which read no
    // untrusted input; the event parser, the checkpoint reader, the Kafka bridge and the daemon
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
