import HSNNMath
import Testing

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
