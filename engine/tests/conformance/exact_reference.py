# Independent exact evaluator (Fractions) of scenario.md, used to write own-*.expected.json.
import sys, json, tomllib
from fractions import Fraction as F
import math
def D(s): return F(s)
def fmt(x):
    # x is a Fraction with at most 8 decimals
    n = x * 10**8; assert n.denominator == 1, x
    n = int(n); neg = n < 0; n = abs(n)
    s = str(n // 10**8); fr = n % 10**8
    if fr: s += '.' + ('%08d' % fr).rstrip('0')
    return ('-' if neg else '') + s
def rnd(x, mode):
    n = x * 10**8
    if mode == 'floor': v = math.floor(n)
    elif mode == 'ceil': v = math.ceil(n)
    else:
        a = abs(n); v = math.floor(a + F(1,2)); v = v if n >= 0 else -v
    return fmt(F(v, 10**8))
sc = tomllib.load(open(sys.argv[1], 'rb'))
insts = {}
for i in sc['instrument']:
    br = []; cum = F(0); prev = None
    for b in i['bracket']:
        cap = D(b['notional_cap']) if 'notional_cap' in b else None
        mmr = D(b['maintenance_margin_rate'])
        if prev: cum = cum + prev[0] * (mmr - prev[1])
        br.append((cap, mmr, cum)); prev = (cap, mmr)
    insts[i['symbol']] = dict(kind=i['kind'], F=D(i['contract_size']), mark=D(i['mark_price']), br=br)
def tier(ins, N):
    for t, (cap, mmr, cum) in enumerate(ins['br']):
        if cap is None or N <= cap: return t
    return len(ins['br']) - 1
def notional(ins, q, m):
    return abs(q) * m if ins['kind'] == 'linear' else abs(q) * ins['F'] / m
def upnl(ins, q, e, m):
    return q * (m - e) if ins['kind'] == 'linear' else q * ins['F'] * (1/e - 1/m)
def mm(ins, N):
    t = tier(ins, N); cap, mmr, cum = ins['br'][t]; return N * mmr - cum, t
def slack(ins, q, e, m):
    return upnl(ins, q, e, m) - mm(ins, notional(ins, q, m))[0]
def liq(ins, q, e, W):
    # solve W + U(m) - MM(m) = 0 per tier, keep the one whose tier matches
    sols = []
    for t, (cap, mmr, cum) in enumerate(ins['br']):
        if ins['kind'] == 'linear':
            den = abs(q) * mmr - q
            if den == 0: continue
            m = (W + cum - q * e) / den
        else:
            den = W + cum + q * ins['F'] / e
            if den == 0: continue
            m = ins['F'] * (q + abs(q) * mmr) / den
        if m > 0 and tier(ins, notional(ins, q, m)) == t: sols.append(m)
    assert len(sols) <= 1 or len(set(sols)) == 1, sols
    return sols[0] if sols else None
def bkr(ins, q, e, W):
    if ins['kind'] == 'linear': m = e - W / q
    else:
        den = W + q * ins['F'] / e
        if den == 0: return None
        m = q * ins['F'] / den
    return m if m > 0 else None
out = []
for a in sc['account']:
    WB = D(a['wallet_balance'])
    pos = []
    for p in a.get('position', []):
        ins = insts[p['symbol']]; q = D(p['qty']); e = D(p['entry_price'])
        pos.append((p, ins, q, e))
    cross = [x for x in pos if x[0]['margin_mode'] == 'cross']
    U = sum((upnl(ins, q, e, ins['mark']) for p, ins, q, e in cross), F(0))
    M = sum((mm(ins, notional(ins, q, ins['mark']))[0] for p, ins, q, e in cross), F(0))
    MB = WB + U
    acc = dict(id=a['id'], wallet_balance=rnd(WB, 'floor'), unrealized_pnl=rnd(U, 'floor'),
               margin_balance=rnd(MB, 'floor'), maintenance_margin=rnd(M, 'ceil'),
               margin_ratio=rnd(M / MB, 'nearest') if MB > 0 else None,
               liquidatable=bool(cross) and MB <= M, positions=[])
    for p, ins, q, e in pos:
        m = ins['mark']; N = notional(ins, q, m); mmv, t = mm(ins, N); u = upnl(ins, q, e, m)
        if p['margin_mode'] == 'cross':
            others = [x for x in cross if x[0] is not p]
            Ws = WB + sum((slack(i2, q2, e2, i2['mark']) for _, i2, q2, e2 in others), F(0))
            We = WB + sum((upnl(i2, q2, e2, i2['mark']) for _, i2, q2, e2 in others), F(0))
        else:
            Ws = We = D(p['isolated_margin'])
        lp = liq(ins, q, e, Ws); bp = bkr(ins, q, e, We)
        acc['positions'].append(dict(symbol=p['symbol'], margin_mode=p['margin_mode'], qty=fmt(q),
            notional=rnd(N, 'ceil'), unrealized_pnl=rnd(u, 'floor'), maintenance_margin=rnd(mmv, 'ceil'),
            bracket=t + 1, liquidatable=(Ws + u - mmv) <= 0,
            liquidation_price=rnd(lp, 'nearest') if lp else None,
            bankruptcy_price=rnd(bp, 'nearest') if bp else None))
    out.append(acc)
print(json.dumps(dict(accounts=out), indent=1))
