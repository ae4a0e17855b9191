"""tinylang: a small interpreter for a tiny language, with a bundled benchmark program.

    python tinylang.py                    # run the bundled program (primes and Fibonacci)
    python tinylang.py --limit 20000      # more work: count the primes below 20,000
    python tinylang.py --fib 22           # a deeper recursion
    python tinylang.py myprog.tl          # run a program of your own

The language has integers, variables (``let x = 1``, ``x = x + 1``), arithmetic and comparisons
(``+ - * / % < <= > >= == !=``, ``and``, ``or``, ``not``), ``if``/``else``, ``while``, functions
(``fn name(a, b) { ... return a + b }``) and ``print(...)``. A program is tokenized with one
regular expression, parsed by recursive descent into a tree of nodes, and the tree is evaluated by
a tree-walking interpreter: the way most interpreters start out.

It prints what the program prints, so two versions of the interpreter can be checked to agree.
Lesson 10 of the course investigates where it spends its time on PyPy. Runs on Python 3.9+ (PyPy
or CPython), standard library only.
"""

import argparse
import io
import operator
import re
import sys
import time

# ----------------------------------------------------------------------------- the bundled program

BENCHMARK = """
fn is_prime(n) {
    if n < 2 { return 0 }
    let d = 2
    while d * d <= n {
        if n % d == 0 { return 0 }
        d = d + 1
    }
    return 1
}

fn fib(n) {
    if n < 2 { return n }
    return fib(n - 1) + fib(n - 2)
}

let count = 0
let i = 0
while i < LIMIT {
    count = count + is_prime(i)
    i = i + 1
}
print(count)
print(fib(FIB))
"""

# ----------------------------------------------------------------------------- tokens

TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n]+|\#[^\n]*)
  | (?P<number>\d+)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op><=|>=|==|!=|[-+*/%<>=(){},])
""", re.VERBOSE)

KEYWORDS = {"fn", "let", "if", "else", "while", "return", "and", "or", "not", "print"}


class TinySyntaxError(Exception):
    pass


def tokenize(source):
    """A list of (kind, text, line) tuples, ending with ("end", "", line)."""
    tokens, pos, line = [], 0, 1
    while pos < len(source):
        m = TOKEN.match(source, pos)
        if m is None:
            raise TinySyntaxError(f"line {line}: unexpected character {source[pos]!r}")
        kind, text = m.lastgroup, m.group()
        if kind == "name" and text in KEYWORDS:
            kind = text
        elif kind == "op":
            kind = text
        if kind != "space":
            tokens.append((kind, text, line))
        line += text.count("\n")
        pos = m.end()
    tokens.append(("end", "", line))
    return tokens

# ----------------------------------------------------------------------------- the tree


class Node:
    fields = ()

    def __init__(self, *values):
        for name, value in zip(self.fields, values):
            setattr(self, name, value)


class Num(Node): fields = ("value",)
class Var(Node): fields = ("name",)
class BinOp(Node): fields = ("op", "left", "right")
class Not(Node): fields = ("operand",)
class Call(Node): fields = ("name", "args")
class Print(Node): fields = ("args",)
class Let(Node): fields = ("name", "value")
class Assign(Node): fields = ("name", "value")
class If(Node): fields = ("test", "body", "orelse")
class While(Node): fields = ("test", "body")
class Return(Node): fields = ("value",)
class FuncDef(Node): fields = ("name", "params", "body")
class Block(Node): fields = ("statements",)
class ExprStatement(Node): fields = ("expr",)

# ----------------------------------------------------------------------------- the parser

PRECEDENCE = [("or",), ("and",), ("==", "!=", "<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%")]


class Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos][0]

    def take(self, kind=None):
        token = self.tokens[self.pos]
        if kind is not None and token[0] != kind:
            raise TinySyntaxError(f"line {token[2]}: expected {kind!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def program(self):
        statements = []
        while self.peek() != "end":
            statements.append(self.statement())
        return Block(statements)

    def block(self):
        self.take("{")
        statements = []
        while self.peek() != "}":
            statements.append(self.statement())
        self.take("}")
        return Block(statements)

    def statement(self):
        kind = self.peek()
        if kind == "fn":
            self.take()
            name = self.take("name")[1]
            self.take("(")
            params = []
            while self.peek() != ")":
                params.append(self.take("name")[1])
                if self.peek() == ",":
                    self.take()
            self.take(")")
            return FuncDef(name, params, self.block())
        if kind == "let":
            self.take()
            name = self.take("name")[1]
            self.take("=")
            return Let(name, self.expression())
        if kind == "if":
            self.take()
            test, body, orelse = self.expression(), self.block(), None
            if self.peek() == "else":
                self.take()
                orelse = self.block()
            return If(test, body, orelse)
        if kind == "while":
            self.take()
            return While(self.expression(), self.block())
        if kind == "return":
            self.take()
            return Return(self.expression())
        if kind == "print":
            self.take()
            return Print(self.arguments())
        if kind == "name" and self.tokens[self.pos + 1][0] == "=":
            name = self.take()[1]
            self.take("=")
            return Assign(name, self.expression())
        return ExprStatement(self.expression())

    def arguments(self):
        self.take("(")
        args = []
        while self.peek() != ")":
            args.append(self.expression())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return args

    def expression(self, level=0):
        if level == len(PRECEDENCE):
            return self.unary()
        left = self.expression(level + 1)
        while self.peek() in PRECEDENCE[level]:
            op = self.take()[0]
            left = BinOp(op, left, self.expression(level + 1))
        return left

    def unary(self):
        kind, text, line = self.take()
        if kind == "number":
            return Num(int(text))
        if kind == "-":
            return BinOp("-", Num(0), self.unary())
        if kind == "not":
            return Not(self.unary())
        if kind == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if kind == "name":
            if self.peek() == "(":
                return Call(text, self.arguments())
            return Var(text)
        raise TinySyntaxError(f"line {line}: unexpected {text or 'end of program'!r}")


def parse(source):
    return Parser(tokenize(source)).program()

# ----------------------------------------------------------------------------- the evaluator

OPERATORS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul,
    "/": operator.floordiv, "%": operator.mod,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}


class TinyRuntimeError(Exception):
    pass


class ReturnSignal(Exception):
    """Raised by ``return`` and caught by the call: unwinds the blocks and loops in between."""

    def __init__(self, value):
        self.value = value


class Environment:
    """Variables of one function call, with the globals as the parent."""

    def __init__(self, parent=None):
        self.vars = {}
        self.parent = parent

    def lookup(self, name):
        env = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise TinyRuntimeError(f"undefined variable {name!r}")

    def assign(self, name, value):
        env = self
        while env is not None:
            if name in env.vars:
                env.vars[name] = value
                return
            env = env.parent
        raise TinyRuntimeError(f"assignment to undeclared variable {name!r}")


class Interpreter:
    def __init__(self, out=None):
        self.globals = Environment()
        self.functions = {}
        self.out = out if out is not None else sys.stdout

    def run(self, tree):
        self.execute(tree, self.globals)

    def execute(self, node, env):
        """Run a statement: dispatch to the ``exec_<NodeClass>`` method."""
        return getattr(self, "exec_" + type(node).__name__)(node, env)

    def evaluate(self, node, env):
        """The value of an expression: dispatch to the ``eval_<NodeClass>`` method."""
        return getattr(self, "eval_" + type(node).__name__)(node, env)

    # statements

    def exec_Block(self, node, env):
        for statement in node.statements:
            self.execute(statement, env)

    def exec_FuncDef(self, node, env):
        self.functions[node.name] = node

    def exec_Let(self, node, env):
        env.vars[node.name] = self.evaluate(node.value, env)

    def exec_Assign(self, node, env):
        env.assign(node.name, self.evaluate(node.value, env))

    def exec_If(self, node, env):
        if self.evaluate(node.test, env):
            self.execute(node.body, env)
        elif node.orelse is not None:
            self.execute(node.orelse, env)

    def exec_While(self, node, env):
        while self.evaluate(node.test, env):
            self.execute(node.body, env)

    def exec_Return(self, node, env):
        raise ReturnSignal(self.evaluate(node.value, env))

    def exec_Print(self, node, env):
        values = [self.evaluate(arg, env) for arg in node.args]
        print(*values, file=self.out)

    def exec_ExprStatement(self, node, env):
        self.evaluate(node.expr, env)

    # expressions

    def eval_Num(self, node, env):
        return node.value

    def eval_Var(self, node, env):
        return env.lookup(node.name)

    def eval_BinOp(self, node, env):
        left = self.evaluate(node.left, env)
        if node.op == "and":
            return self.evaluate(node.right, env) if left else left
        if node.op == "or":
            return left if left else self.evaluate(node.right, env)
        right = self.evaluate(node.right, env)
        try:
            return int(OPERATORS[node.op](left, right))
        except ZeroDivisionError:
            raise TinyRuntimeError("division by zero") from None

    def eval_Not(self, node, env):
        return int(not self.evaluate(node.operand, env))

    def eval_Call(self, node, env):
        func = self.functions.get(node.name)
        if func is None:
            raise TinyRuntimeError(f"undefined function {node.name!r}")
        if len(node.args) != len(func.params):
            raise TinyRuntimeError(f"{node.name}() takes {len(func.params)} arguments, "
                                   f"got {len(node.args)}")
        local = Environment(self.globals)
        for param, arg in zip(func.params, node.args):
            local.vars[param] = self.evaluate(arg, env)
        try:
            self.execute(func.body, local)
        except ReturnSignal as signal:
            return signal.value
        return 0

# ----------------------------------------------------------------------------- main


def output(argv=()):
    """What the program prints for command-line arguments, as a string (what a race times)."""
    out = io.StringIO()
    Interpreter(out).run(parse(load(parse_args(list(argv)))))
    return out.getvalue()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", help="a tinylang program (default: the bundled one)")
    parser.add_argument("--limit", type=int, default=3000,
                        help="the bundled program counts the primes below this")
    parser.add_argument("--fib", type=int, default=16,
                        help="the bundled program computes this Fibonacci number")
    parser.add_argument("--repeat", type=int, default=1, help="run the program this many times")
    parser.add_argument("--time", action="store_true", help="print the run time to stderr")
    args = parser.parse_args(argv)
    if args.limit < 0 or args.fib < 0 or args.repeat < 1:
        parser.error("--limit and --fib must be at least 0, --repeat at least 1")
    return args


def load(args):
    if args.file:
        with open(args.file, encoding="utf-8") as f:
            return f.read()
    return BENCHMARK.replace("LIMIT", str(args.limit)).replace("FIB", str(args.fib))


def main(argv=None):
    args = parse_args(argv)
    tree = parse(load(args))
    start = time.perf_counter()
    for _ in range(args.repeat):
        Interpreter().run(tree)
    if args.time:
        print(f"{time.perf_counter() - start:.3f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (TinySyntaxError, TinyRuntimeError) as e:
        sys.exit(f"tinylang: {e}")
