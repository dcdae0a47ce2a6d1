// swift-tools-version: 6.1
import PackageDescription

// Module map (arrows point one way; every module may use HSNNSupport):
//
//   COpenBLAS ─ HSNNMath (tensors, layers, losses; BLAS/: the OpenBLAS bridge, kernel selection)
//   HSNNEvents (event schema, JSON decoding and encoding)
//   HSNNEvents, HSNNMath ─ HSNNSynth (the synthetic stream)
//   HSNNMath, HSNNEvents, Safetensors ─ HSNNModel (MoNN, learned index, retrieval, evaluation)
//   HSNNEvents ─ HSNNPipeline (joiner, ordered batching, the learner protocol)
//   CRdkafka ─ HSNNKafka (the librdkafka bridge)
//   Safetensors ─ HSNNCheckpoint (the versioned checkpoint store)
//   HSNNOps (the generic configuration engine, logging, HTTP, metrics, systemd)
//   HSNNMath, HSNNEvents, HSNNModel, HSNNPipeline, HSNNKafka, HSNNCheckpoint, HSNNOps ─ HSNNDaemon
//   HSNNDaemon and the modules it measures, HSNNSynth ─ HSNNBench (every benchmark and its report)
//   HSNNDaemon, HSNNBench and the lower modules ─ hsnn (the command-line interface)
//
// HeapModule (swift-collections) orders the joiner's deadlines, the synthetic stream's clicks
// and retrieval's top-K.

let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let inMemoryLog = Target.Dependency.product(name: "InMemoryLogging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let coreMetrics = Target.Dependency.product(name: "CoreMetrics", package: "swift-metrics")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let signals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
let heap = Target.Dependency.product(name: "HeapModule", package: "swift-collections")

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
        .target(name: "HSNNSynth", dependencies: ["HSNNEvents", "HSNNMath", heap]),
        .target(name: "HSNNModel", dependencies: ["HSNNMath", "HSNNEvents", "Safetensors", "HSNNSupport", heap]),
        .target(name: "HSNNPipeline", dependencies: ["HSNNEvents", heap]),
        .target(name: "HSNNKafka", dependencies: ["CRdkafka", "HSNNSupport", log]),
        .target(name: "HSNNCheckpoint", dependencies: [
            "Safetensors", "HSNNSupport", log, .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "HSNNOps", dependencies: [
            "HSNNSupport", log, metrics, lifecycle,
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        .target(name: "HSNNDaemon", dependencies: [
            "HSNNMath", "HSNNEvents", "HSNNModel", "HSNNPipeline", "HSNNKafka", "HSNNCheckpoint", "HSNNOps",
            "HSNNSupport", log, metrics, lifecycle, signals,
        ]),
        .target(name: "HSNNBench", dependencies: [
            "HSNNDaemon", "HSNNModel", "HSNNEvents", "HSNNPipeline", "HSNNSynth", "HSNNKafka", "HSNNCheckpoint",
            "HSNNOps", "HSNNMath", "Safetensors", "HSNNSupport", log, coreMetrics, lifecycle, signals,
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .executableTarget(name: "hsnn", dependencies: [
            "HSNNDaemon", "HSNNBench", "HSNNMath", "HSNNCheckpoint", "HSNNEvents", "HSNNKafka", "HSNNModel",
            "HSNNOps", "HSNNPipeline", "HSNNSynth", "HSNNSupport", log, lifecycle, signals,
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Tests. Unit targets run in parallel; IntegrationTests (Kafka clusters, daemon
        // processes, Python, tmpfs mounts) runs serially (scripts/test). HSNNTestSupport holds
        // what several of them share.
        .target(name: "HSNNTestSupport", dependencies: ["HSNNCheckpoint", "Safetensors", log, inMemoryLog],
                path: "Tests/HSNNTestSupport"),
        .testTarget(name: "HSNNMathTests", dependencies: ["HSNNMath"]),
        .testTarget(name: "HSNNEventsTests", dependencies: ["HSNNEvents", "HSNNSynth", "HSNNMath"]),
        .testTarget(name: "HSNNSynthTests", dependencies: ["HSNNSynth", "HSNNEvents"]),
        .testTarget(name: "HSNNModelTests", dependencies: ["HSNNModel", "HSNNSynth", "HSNNEvents", "HSNNMath", "HSNNTestSupport"]),
        .testTarget(name: "HSNNPipelineTests", dependencies: ["HSNNPipeline", "HSNNEvents"]),
        .testTarget(name: "HSNNCheckpointTests", dependencies: [
            "HSNNCheckpoint", "Safetensors", "HSNNSupport", "HSNNTestSupport", log, inMemoryLog,
        ]),
        .testTarget(name: "HSNNOpsTests", dependencies: ["HSNNOps", log, metrics, lifecycle]),
        .testTarget(name: "HSNNDaemonTests", dependencies: [
            "HSNNDaemon", "HSNNModel", "HSNNOps", "HSNNTestSupport", log,
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        .testTarget(name: "HSNNBenchTests", dependencies: ["HSNNBench", "HSNNTestSupport"]),
        .testTarget(name: "hsnnTests", dependencies: [
            "hsnn", "HSNNCheckpoint", "Safetensors", "HSNNTestSupport",
        ]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "HSNNDaemon", "HSNNCheckpoint", "HSNNEvents", "HSNNKafka", "HSNNMath", "HSNNModel", "HSNNOps",
            "HSNNPipeline", "Safetensors", "HSNNSupport", "HSNNTestSupport", log, inMemoryLog, lifecycle,
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
