import ArgumentParser
import HSNNMath
import Foundation

/// `hsnn`: trains an HSNN retrieval model online from an event stream and publishes checkpoints.
@main
struct HSNNCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hsnn",
        abstract: "Online training of a Hierarchical Structured Neural Network retrieval model.",
        subcommands: [
            // One subcommand per file in this folder.
            RunCommand.self,
            DemoCommand.self,
            CheckpointCommand.self,
            ConfigCommand.self,
            DevBrokerCommand.self,
            ProduceCommand.self,
            SynthCommand.self,
            BenchCommand.self,
            TrainCommand.self,
            RetrieveCommand.self,
            ScoreCommand.self,
            EvalCommand.self,
        ]
    )

    /// Entry point: parses the arguments and runs the chosen subcommand.
    ///
    /// Before anything touches OpenBLAS it makes sure the library runs the fastest kernel
    /// this CPU supports (it may re-execute the process once with `OPENBLAS_CORETYPE` set).
    static func main() async {
        blasReport = BLASKernelSelection.ensureFastKernel(announce: { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        })
        await main(nil)
    }

    /// What kernel selection found and did; commands log it once logging is set up.
    nonisolated(unsafe) static var blasReport: BLASKernelReport?
}
