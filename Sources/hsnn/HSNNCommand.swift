import ArgumentParser

/// `hsnn`: trains an HSNN retrieval model online from an event stream and publishes checkpoints.
struct HSNNCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hsnn",
        abstract: "Online training of a Hierarchical Structured Neural Network retrieval model.",
        subcommands: [
            // One subcommand per file in this folder.
            CheckpointCommand.self,
            ConfigCommand.self,
            DevBrokerCommand.self,
            ProduceCommand.self,
            SynthCommand.self,
            TrainCommand.self,
            RetrieveCommand.self,
            ScoreCommand.self,
            EvalCommand.self,
        ]
    )
}
