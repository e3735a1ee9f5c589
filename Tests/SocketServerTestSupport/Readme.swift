// The README's fenced code blocks, for the tests that build and run them.
import Foundation

/// The text of every ```LANGUAGE block of README.md, in order, each ending in a newline.
public func readmeBlocks(_ language: String) throws -> [String] {
    let text = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
    var blocks: [String] = []
    var current: [Substring]? = nil
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if let lines = current {
            if line == "```" {
                blocks.append(lines.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current = lines + [line]
            }
        } else if line == "```" + language {
            current = []
        }
    }
    return blocks
}

/// Every `inline code` span of README.md that starts with `prefix`.
public func readmeCommands(startingWith prefix: String) throws -> [String] {
    let text = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
    return text.split(separator: "`").map(String.init).filter { $0.hasPrefix(prefix) }
}
