import ArgumentParser
import Foundation
import HSNNDaemon
import Logging

/// `hsnn dev-broker`: librdkafka's mock cluster as a standalone development broker.
struct DevBrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "Run an in-memory Kafka broker (librdkafka's mock cluster) on 127.0.0.1 for development and tests.",
        discussion: """
            Prints the bootstrap address (127.0.0.1:PORT, chosen by the system) on its first line, then runs \
            until interrupted. Data lives in memory only. Point the daemon at it with \
            --set kafka.brokers=127.0.0.1:PORT, and producers (hsnn produce, kcat -b 127.0.0.1:PORT) too.
            """)

    @Option(help: "Events topic to create.") var eventsTopic = "hsnn.events"
    @Option(help: "Catalog topic to create.") var itemsTopic = "hsnn.items"
    @Option(help: "Partitions of the events topic.") var partitions = 4

    func run() async throws {
        var logger = Logger(label: "hsnn.dev-broker")
        logger.logLevel = .warning
        let broker = try EmbeddedBroker(eventsTopic: eventsTopic, itemsTopic: itemsTopic, eventPartitions: partitions, logger: logger)
        print(broker.bootstrapServers)
        fflush(stdout)
        let signals = AsyncStream<Void> { continuation in
            for signal in [SIGINT, SIGTERM] {
                Foundation.signal(signal, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signal)
                source.setEventHandler { continuation.finish() }
                source.resume()
                continuation.onTermination = { _ in source.cancel() }
            }
        }
        for await _ in signals {}
        withExtendedLifetime(broker) {}
    }
}
