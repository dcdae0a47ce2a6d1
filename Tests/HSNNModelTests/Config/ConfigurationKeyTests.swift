import Foundation
import HSNNEvents
import HSNNMath
import Testing
@testable import HSNNModel

@Test func configurationKeysParseAndUnknownKeysAreNamed() throws {
    var c = ModelConfig()
    for (key, value) in [("model.kind", "\"two_tower\""), ("model.dim", "24"), ("index.nodes", "[128, 8]"),
                         ("index.beam", "[16,32]"), ("training.learning_rate", "0.001"), ("index.node_cross_features", "false")] {
        try c.set(key, value)
    }
    #expect(!c.nodeCrossFeatures)
    #expect(c.kind == .twoTower && c.dim == 24 && c.nodes == [128, 8] && c.beam == [16, 32] && c.learningRate == 0.001)
    #expect(throws: ModelConfigError.self) { try c.set("model.colour", "red") }
    do { try c.set("index.levels", "x") } catch { #expect(error.message.contains("index.levels")) }
    c.levels = 5
    #expect(throws: ModelConfigError.self) { try c.validate() }
}
