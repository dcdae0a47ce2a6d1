import Foundation
import HSNNKafka
import HSNNModel
import HSNNOps

/// A configuration that passed every check `hsnn run` makes before it binds a port, joins
/// Kafka or touches the checkpoint directory; `hsnn config check` runs the same checks.
///
/// Checked: the rules that involve several operational keys (``DaemonSettings/validate()``),
/// every model, index and training key with its range and the model's memory estimate
/// against physical memory (``ModelConfig/validate()``), and every `kafka.properties` entry,
/// handed to librdkafka's configuration exactly as the consumer and the dead-letter producer
/// would set it.
public struct ValidatedConfiguration: Sendable {
    public let configuration: Configuration
    public let settings: DaemonSettings
    public let model: ModelConfig

    /// Checks `configuration`.
    /// - Throws: ``ConfigurationRejected`` listing every problem, each naming its key, where
    ///   the key was set and what to change.
    public init(_ configuration: Configuration) throws(ConfigurationRejected) {
        let settings = DaemonSettings(configuration)
        var problems: [String] = []
        do { try settings.validate() } catch { problems.append(error.description) }
        var model = ModelConfig()
        do {
            model = try ModelSettings.modelConfig(from: configuration)
        } catch let error as ModelConfigError {
            problems.append(Self.describe(key: error.key, in: configuration, error.message))
        } catch {
            problems.append("\(error)")
        }
        do {
            try settings.consumerConfiguration(bootstrap: Self.placeholderBootstrap(settings)).validate()
            if settings.deadLetterTopic != nil {
                try settings.deadLetterConfiguration(bootstrap: Self.placeholderBootstrap(settings)).validate()
            }
        } catch {
            let key = error.property.map { "kafka.properties.\($0)" } ?? "kafka.properties"
            let source = error.property.flatMap { configuration.mapEntrySources["kafka.properties"]?[$0] }
            problems.append("\(key)\(source.map { " (\($0))" } ?? ""): \(error)")
        }
        guard problems.isEmpty else { throw ConfigurationRejected(problems: problems) }
        self.configuration = configuration
        self.settings = settings
        self.model = model
    }

    /// The embedded broker's address is known only once it runs; any well-formed one checks the rest.
    private static func placeholderBootstrap(_ settings: DaemonSettings) -> String {
        settings.usesEmbeddedBroker ? "127.0.0.1:9092" : settings.brokers
    }

    private static func describe(key: String, in configuration: Configuration, _ message: String) -> String {
        guard configuration.schema.key(key) != nil else { return message }
        return "\(key) (\(configuration.source(of: key))): \(message)"
    }
}

/// A configuration `hsnn run` refuses, with every problem found.
public struct ConfigurationRejected: Error, Sendable, CustomStringConvertible {
    /// One line per problem, each naming the key, where it was set and what to change.
    public var problems: [String]

    public var description: String { problems.joined(separator: "\n") }
}
