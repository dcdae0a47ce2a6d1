// Entry point of the `hsnn` command.
import ArgumentParser

await HSNNCommand.main()
