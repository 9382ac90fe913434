#!/usr/bin/env python3
"""Prints which top-level module of the router imports which (`crate::x` paths outside tests)
and fails on an import cycle of any length. Run from the repository root."""
import os,re,sys,collections
root=sys.argv[1] if len(sys.argv)>1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),'..','router','src')
mods=[m[:-3] if m.endswith('.rs') else m for m in os.listdir(root) if m not in ('lib.rs','main.rs')]
deps=collections.defaultdict(set)
for dp,dn,fn in os.walk(root):
    for f in fn:
        if not f.endswith('.rs'): continue
        p=os.path.join(dp,f)
        rel=os.path.relpath(p,root)
        top=rel.split('/')[0]
        top=top[:-3] if top.endswith('.rs') else top
        if top in ('lib','main'): continue
        if 'tests' in rel.split('/') or f.startswith('tests') : continue
        src=open(p).read()
        # drop #[cfg(test)] mod tests blocks roughly
        i=src.find('#[cfg(test)]\nmod tests')
        if i>=0: src=src[:i]
        for m in re.findall(r'crate::(\w+)',src):
            if m!=top and m in mods: deps[top].add(m)
for k in sorted(deps): print(f"{k} -> {', '.join(sorted(deps[k]))}")
# Any cycle, of any length: a depth-first search over the graph.
def find_cycle():
    state={}
    stack=[]
    def visit(n):
        state[n]=1; stack.append(n)
        for m in sorted(deps.get(n,())):
            if state.get(m)==1:
                return stack[stack.index(m):]+[m]
            if m not in state:
                c=visit(m)
                if c: return c
        state[n]=2; stack.pop()
        return None
    for n in sorted(deps):
        if n not in state:
            c=visit(n)
            if c: return c
    return None
cycle=find_cycle()
if cycle:
    print("cycle:", " -> ".join(cycle))
    sys.exit(1)
print("no cycles")
