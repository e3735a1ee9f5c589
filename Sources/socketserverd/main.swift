print("socketserverd: under construction")
