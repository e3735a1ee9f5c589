// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "myserver",
    dependencies: [
        // A checkout beside yours; or .package(url: "https://…/socketserverd.git", branch: "main")
        .package(path: "../socketserverd"),
    ],
    targets: [
        .executableTarget(name: "myserver", dependencies: [
            .product(name: "SocketServer", package: "socketserverd"),
            // The built-in handlers (UploadStreamHandler, EchoStreamHandler, …), if you use them:
            .product(name: "SocketServerHandlers", package: "socketserverd"),
        ]),
    ]
)
