import HSNNMath
import Testing

@Test func copiedExampleHasTheSameSlots() {
    var batch = PooledLookupBatch()
    batch.reset(fields: 3)
    // Example 0: {1, 2}, {}, {3}; example 1: {4}, {5, 6, 7}, {}.
    for slot in [[1, 2], [], [3], [4], [5, 6, 7], []] {
        for r in slot { batch.append(row: Int32(r)) }
        batch.endSlot()
    }
    batch.appendCopy(ofExample: 1)
    batch.appendCopy(ofExample: 0)
    #expect(batch.examples == 4)
    func slots(_ e: Int) -> [[Int32]] {
        (0..<3).map { f in
            let s = e * 3 + f
            return Array(batch.rowIndices[Int(batch.slotStart[s])..<Int(batch.slotStart[s + 1])])
        }
    }
    #expect(slots(2) == slots(1))
    #expect(slots(3) == slots(0))
    #expect(slots(3) == [[1, 2], [], [3]])
}

@Test func softmaxGroupsKeepTheirRowsInOrder() {
    var groups = SoftmaxGroups([[0, 3, 4], [], [1]])
    #expect(groups.count == 3)
    #expect(Array(groups[0]) == [0, 3, 4] && groups[1].isEmpty && Array(groups[2]) == [1])
    groups.removeAll()
    #expect(groups.isEmpty)
    groups.appendRow(2)
    groups.appendRow(5)
    groups.close()
    #expect(groups == SoftmaxGroups([[2, 5]]))
}
