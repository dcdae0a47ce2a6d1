print("hsnn")
