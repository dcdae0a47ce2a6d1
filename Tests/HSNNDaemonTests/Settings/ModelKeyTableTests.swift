import HSNNDaemon
import HSNNModel
import HSNNOps
import Testing

/// The model's key table against the daemon's schema and the text forms it derives.
@Suite struct ModelKeyTableTests {
    @Test func everyKeyReadsBackWhatItSets() throws {
        let defaults = ModelConfig()
        for entry in ModelConfig.keyTable {
            var config = ModelConfig()
            try entry.set(entry.text(in: defaults), in: &config)
            #expect(config == defaults, "\(entry.key) does not read back its own text form")
            #expect(defaults.text(of: entry.key) == entry.text(in: defaults))
        }
    }

    @Test func keysAreUniqueAndInTheSchema() {
        let names = ModelConfig.keyTable.map(\.key)
        #expect(Set(names).count == names.count)
        for name in names {
            #expect(ModelSettings.schema.key(name) != nil, "\(name) is missing from the daemon's schema")
        }
    }

    @Test func setRejectsUnknownKeysAndBadValues() {
        var config = ModelConfig()
        #expect(throws: ModelConfigError.unknownKey("model.nope")) { try config.set("model.nope", "1") }
        #expect(throws: ModelConfigError.badValue("index.nodes", "[1, x]", "a list of integers like [256, 16]")) {
            try config.set("index.nodes", "[1, x]")
        }
        #expect(throws: ModelConfigError.badValue("training.seed", "1_0", "a non-negative integer")) {
            try config.set("training.seed", "1_0")
        }
    }

    @Test func listsAndUnderscoresParse() throws {
        var config = ModelConfig()
        try config.set("index.nodes", " [ 2_048, 8 ] ")
        try config.set("model.hash_buckets", "\"1_024\"")
        try config.set("model.layer_norm", "yes")
        try config.set("model.kind", "two_tower")
        #expect(config.nodes == [2048, 8])
        #expect(config.hashBuckets == 1024)
        #expect(config.layerNorm)
        #expect(config.kind == .twoTower)
        #expect(config.text(of: "index.nodes") == "[2048, 8]")
    }
}
