"""A Modbus TCP device without SunSpec, served by pymodbus, for tests/probe.rs.

Usage: pymodbus_plain_server.py PORT. Holds 100 holding registers of zeros at protocol addresses
0..99; reads elsewhere (40000, 50000) are answered with exception 2, illegal data address.
"""
import asyncio
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncTcpServer


async def main(port):
    store = ModbusSlaveContext(hr=ModbusSequentialDataBlock(1, [0] * 100))
    context = ModbusServerContext(slaves=store, single=True)
    await StartAsyncTcpServer(context=context, address=("127.0.0.1", port))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
