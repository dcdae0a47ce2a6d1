// Entry point of the `hsnn` command.
await HSNNCommand.main()
