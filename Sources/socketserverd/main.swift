print("socketserverd")
