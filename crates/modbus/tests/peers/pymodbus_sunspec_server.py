"""A SunSpec inverter served by pymodbus (an implementation gridtrust did not write).

Usage: pymodbus_sunspec_server.py PORT
Serves holding registers from protocol address 40000: "SunS", model 1 (L=66), model 103
(L=50), model 123 (L=24), end marker. Every write is printed as
"WRITE <protocol address> <value> ..." so the test sees what reached this server's registers.
pymodbus data blocks count from 1: protocol address 40000 is block address 40001.
"""
import asyncio
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncTcpServer


def s16(v):
    return v & 0xFFFF


def text(s, regs):
    b = s.encode().ljust(regs * 2, b"\0")
    return [b[i] << 8 | b[i + 1] for i in range(0, regs * 2, 2)]


def sunspec_map():
    regs = [0x5375, 0x6E53]
    common = text("pymodbus-peer", 16) + text("SunSpec test map", 16) + text("", 8) + text("3.8.6", 8) + text("PEER-42", 16) + [1, 0]
    regs += [1, 66] + common
    inv = [0xFFFF] * 50
    inv[0] = 1234; inv[1] = 411; inv[2] = 412; inv[3] = 0xFFFF; inv[4] = s16(-2)   # A, AphA..C, A_SF
    inv[5:11] = [4160, 4161, 4162, 2401, 2402, 2403]; inv[11] = s16(-1)            # PPV, PhV, V_SF
    inv[12] = 2500; inv[13] = 1                                                     # W=2500 x 10^1
    inv[14] = 6001; inv[15] = s16(-2)                                               # Hz
    inv[16] = 0x8000; inv[17] = 0                                                   # VA not implemented
    inv[18] = s16(-300); inv[19] = 0                                                # VAr
    inv[20] = 99; inv[21] = 0                                                       # PF
    inv[22] = 0x0001; inv[23] = 0xE240; inv[24] = 0                                 # WH = 123456
    inv[25] = 420; inv[26] = s16(-1); inv[27] = 6000; inv[28] = s16(-1); inv[29] = 25500; inv[30] = 0
    inv[31:35] = [s16(-52), 611, 0x8000, 0x8000]; inv[35] = s16(-1)                 # temperatures
    inv[36] = 4; inv[37] = 0
    inv[38:50] = [0, 0, 0, 0] + [0xFFFF] * 8
    regs += [103, 50] + inv
    ctl = [0] * 24
    ctl[2] = 1                      # Conn
    ctl[3] = 100                    # WMaxLimPct 100 % with SF 0
    ctl[7] = 0                      # WMaxLim_Ena
    ctl[19] = 0; ctl[20] = 0        # VArPct_Mod, VArPct_Ena
    ctl[21] = 0; ctl[22] = s16(-2); ctl[23] = s16(-3)   # WMaxLimPct_SF, OutPFSet_SF, VArPct_SF
    regs += [123, 24] + ctl
    regs += [0xFFFF, 0]
    return regs


class ReportingBlock(ModbusSequentialDataBlock):
    def setValues(self, address, values):
        vals = values if isinstance(values, list) else [values]
        print("WRITE", address - 1, *vals, flush=True)
        super().setValues(address, values)


async def main(port):
    block = ReportingBlock(40001, sunspec_map())
    store = ModbusSlaveContext(hr=block)
    context = ModbusServerContext(slaves=store, single=True)
    print("SERVING", port, flush=True)
    await StartAsyncTcpServer(context=context, address=("127.0.0.1", port))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
