// include = : relative to the including file, glob order, nesting, cycles, depth, missing files.
import Foundation
@testable import SocketServerDaemon
import XCTest

final class ConfigIncludeTests: XCTestCase {
    private func load(_ path: String) -> Result<DaemonConfig, ConfigErrors> {
        Result { () throws(ConfigErrors) -> DaemonConfig in
            try ConfigLoader.load(path: path, catalog: ConfigTestCatalog(), cpuCount: 2)
        }
    }

    private func errors(_ path: String) -> [String] {
        switch load(path) {
        case .success(let config):
            XCTFail("expected errors, loaded \(config)")
            return []
        case .failure(let errors): return errors.errors.map(\.description)
        }
    }

    func testRelativeGlobInSortedOrderAndNested() throws {
        let dir = try ConfigTempDir()
        let main = try dir.write("socketserverd.conf", """
            [daemon]
            include = conf.d/*.conf
            log_level = warning
            [service main]
            listen = tcp://127.0.0.1:7000
            handler = echo
            """)
        let b = try dir.write("conf.d/b.conf", configService("b", listen: "tcp://127.0.0.1:7002"))
        let a = try dir.write("conf.d/a.conf", """
            include = sub/*.conf
            [service a]
            listen = tcp://127.0.0.1:7001
            handler = echo
            [daemon]
            include = \(dir.path)/conf.d/nothing-*.conf
            """)
        let nested = try dir.write("conf.d/sub/x.conf", configService("x", listen: "tcp://127.0.0.1:7003"))
        let upper = try dir.write("conf.d/C.conf", configService("C", listen: "tcp://127.0.0.1:7004"))
        try dir.write("conf.d/ignored.txt", "garbage that is never read")
        try dir.write("sub/x.conf", "garbage: sub/ is relative to the including file, not the main one")

        let config = try load(main).get()
        // Byte order: "C.conf" < "a.conf" < "b.conf"; sub/x.conf where a.conf includes it.
        XCTAssertEqual(config.files, [main, upper, a, nested, b])
        XCTAssertEqual(config.services.map(\.name), ["C", "x", "a", "b", "main"])
        XCTAssertEqual(config.logLevel, .warning)
        XCTAssertEqual(config.services.first { $0.name == "x" }?.location, SourceLocation(file: nested, line: 1))
    }

    func testUnmatchedGlobIsFineButMissingLiteralIsAnError() throws {
        let dir = try ConfigTempDir()
        _ = try dir.makeDirectory("conf.d")
        let main = try dir.write("main.conf", "include = conf.d/*.conf\n[daemon]\ninclude = extra.conf\n")
        XCTAssertEqual(errors(main), ["\(main):3: include 'extra.conf': \(dir.path)/extra.conf does not exist"])
        try dir.write("extra.conf", "[daemon]\nlog_level = error\n" + configService())
        XCTAssertEqual(try load(main).get().logLevel, .error)
    }

    func testAbsoluteIncludeAndDirectoryWithGlobCharacters() throws {
        let dir = try ConfigTempDir()
        let odd = try dir.write("odd[1]*/main.conf", "include = parts/*.conf\n")
        let part = try dir.write("odd[1]*/parts/p.conf", configService("p"))
        // A literal path with glob characters: escaped in the include, matched literally below it.
        let main = try dir.write("main.conf", "include = odd\\[1]\\*/main.conf\n")
        let config = try load(main).get()
        XCTAssertEqual(config.files, [main, odd, part])
        XCTAssertEqual(config.services.map(\.name), ["p"])
    }

    func testErrorsInIncludedFilesNameThatFile() throws {
        let dir = try ConfigTempDir()
        let main = try dir.write("main.conf", "[daemon]\ninclude = conf.d/*.conf\nlog_level = nope\n")
        let a = try dir.write("conf.d/a.conf", "\n[service a]\nlisten = tcp://127.0.0.1:7000\nhandler = echo\n")
        let b = try dir.write("conf.d/b.conf", "[service a]\nlisten = tcp://127.0.0.1:7000\nhandler = echo\nwokers = 1\n")
        XCTAssertEqual(errors(main), [
            "\(main):3: unknown log_level 'nope' (expected debug, info, warning or error)",
            "\(b):1: duplicate service 'a' (first defined at \(a):2)",
            "\(b):4: unknown key 'wokers' (did you mean 'workers'?)",
        ])
    }

    func testCycleIsAnError() throws {
        let dir = try ConfigTempDir()
        let main = try dir.write("main.conf", "include = b.conf\n" + configService("m"))
        let b = try dir.write("b.conf", "include = c.conf\n")
        let c = try dir.write("c.conf", "\n[daemon]\ninclude = main.conf\n")
        XCTAssertEqual(errors(main), ["\(c):3: include cycle: \(main) -> \(b) -> \(c) -> \(main)"])
    }

    func testGlobMatchingTheIncludingFileIsACycle() throws {
        let dir = try ConfigTempDir()
        let main = try dir.write("main.conf", "include = *.conf\n" + configService("m"))
        let other = try dir.write("other.conf", configService("o", listen: "tcp://127.0.0.1:7001"))
        XCTAssertEqual(errors(main), ["\(main):1: include cycle: \(main) -> \(main)"])
        _ = other
    }

    func testSameFileTwiceWithoutCycleIsReadTwice() throws {
        let dir = try ConfigTempDir()
        let main = try dir.write("main.conf", "include = a.conf\ninclude = a.conf\n")
        let a = try dir.write("a.conf", configService("a"))
        XCTAssertEqual(errors(main), ["\(a):1: duplicate service 'a' (first defined at \(a):1)"])
    }

    func testDepthLimit() throws {
        let dir = try ConfigTempDir()
        // main -> f1 -> ... -> f8 is allowed (8 levels); f8 including f9 is one too many.
        let main = try dir.write("main.conf", "include = f1.conf\n")
        var files = [main]
        for level in 1...9 {
            files.append(try dir.write("f\(level).conf", "include = f\(level + 1).conf\n"))
        }
        try dir.write("f10.conf", configService("deep"))
        XCTAssertEqual(errors(main), [
            "\(files[8]):1: include 'f9.conf' is nested too deeply (more than 8 levels of include)",
        ])

        try dir.write("f8.conf", configService("deep"))
        let config = try load(main).get()
        XCTAssertEqual(config.files.count, 9)
        XCTAssertEqual(config.services.map(\.name), ["deep"])
    }

    func testUnreadableIncludedFileIsReportedAtTheIncludeLine() throws {
        let dir = try ConfigTempDir()
        _ = try dir.makeDirectory("conf.d/dir.conf")
        let main = try dir.write("main.conf", "\n\ninclude = conf.d/*.conf\n")
        XCTAssertEqual(errors(main), ["\(main):3: cannot read \(dir.path)/conf.d/dir.conf: it is a directory"])
    }

    func testParseTextIncludesRelativeToTheGivenFile() throws {
        let dir = try ConfigTempDir()
        let part = try dir.write("parts/p.conf", configService("p"))
        let config = try ConfigLoader.parse(text: "include = parts/*.conf\n", file: dir.path + "/virtual.conf",
                                            catalog: ConfigTestCatalog(), cpuCount: 1)
        XCTAssertEqual(config.files, [dir.path + "/virtual.conf", part])
        XCTAssertEqual(config.services.map(\.name), ["p"])
    }
}
