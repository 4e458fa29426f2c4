import { Injectable } from '@nestjs/common';
import { GenesysHttpService } from 'nestjs-genesys-auth';

/** The fields of a routing queue this sample shows. */
export interface QueueSummary {
  id: string;
  name: string;
}

/** A page of queues as the sample's `/queues` returns it. */
export interface QueuePage {
  queues: QueueSummary[];
  pageNumber: number;
  pageCount: number;
  total: number;
}

interface GenesysQueueListing {
  entities?: { id: string; name: string }[];
  pageNumber: number;
  pageCount: number;
  total: number;
}

/** Lists routing queues through the signed client; it never sees a token. */
@Injectable()
export class QueuesService {
  constructor(private readonly genesys: GenesysHttpService) {}

  async list(pageNumber = 1, pageSize = 25): Promise<QueuePage> {
    const { data } = await this.genesys.axiosRef.get<GenesysQueueListing>('/api/v2/routing/queues', {
      params: { pageNumber, pageSize },
    });
    return {
      queues: (data.entities ?? []).map(({ id, name }) => ({ id, name })),
      pageNumber: data.pageNumber,
      pageCount: data.pageCount,
      total: data.total,
    };
  }
}
