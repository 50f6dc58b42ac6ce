import { FifoSemaphore } from '@edgefleet/agent';

/**
 * A `fetch` that lets at most `limit` requests hold a connection at once; the others wait their turn
 * in arrival order. Thousands of simulated agents in one process would otherwise open a socket each
 * for a wave's downloads at the same moment and run the process out of file descriptors (`EMFILE`);
 * real devices each have their own.
 *
 * A slot is held until the response body has been read to its end, cancelled or has failed (an
 * agent's aborted download cancels it), or at once for a response without a body or with a non-2xx
 * status (its body, if read at all, is small).
 */
export function boundedFetch(limit: number, base: typeof fetch = fetch): typeof fetch {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`the download limit must be a positive integer, got ${limit}`);
  }
  const slots = new FifoSemaphore(limit);
  const release = () => {
    slots.release();
  };

  return async (input, init) => {
    await slots.acquire();
    let response: Response;
    try {
      response = await base(input, init);
    } catch (error) {
      release();
      throw error;
    }
    const body = response.body;
    if (body === null || !response.ok) {
      release();
      return response;
    }
    let released = false;
    const once = () => {
      if (released) return;
      released = true;
      release();
    };
    const reader: ReadableStreamDefaultReader<Uint8Array> = body.getReader();
    const tracked = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            once();
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          once();
          controller.error(error);
        }
      },
      async cancel(reason) {
        once();
        await reader.cancel(reason);
      },
    });
    return new Response(tracked, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
